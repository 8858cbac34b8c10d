//! `stratus up` and `stratus down` as a newcomer runs them: a devnet in the background, the
//! tenant's journey through the CLI on loopback, resuming, re-adopting workloads, "why no bids",
//! the money settled exactly, and a sample of real awesome-akash templates.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use stratus_client::NodeClient;
use stratus_types::address::Address;
use stratus_types::market::{DeploymentId, LeaseState};

use crate::stdout;

/// A devnet home that is taken down (processes and workloads) when the test ends.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn up(&self, args: &[&str]) -> Output {
        self.run(&[&["up"], args].concat())
    }

    /// `stratus --home H ARGS`, from inside the home (so `examples/hello.yaml` is not found there
    /// and the built-in copy is used).
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_path(args, &std::env::var("PATH").unwrap_or_default())
    }

    pub fn run_with_path(&self, args: &[&str], path: &str) -> Output {
        self.run_with_env(&[("PATH", path.to_string())], args)
    }

    /// `run` with these environment variables set (S3 credentials, PATH).
    pub fn run_with_env(&self, env: &[(&str, String)], args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stratus"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--home")
            .arg(self.path())
            .args(args)
            .current_dir(self.path())
            .env_remove("STRATUS_HOME")
            .env_remove("STRATUS_NODE")
            .env_remove("STRATUS_FROM")
            .stdin(Stdio::null())
            .output()
            .expect("run stratus")
    }

    pub fn devnet(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path().join("devnet.json")).expect("devnet.json")).expect("json")
    }

    pub fn node(&self) -> NodeClient {
        stratus_client::install_tls_provider();
        NodeClient::new(self.devnet()["node"].as_str().expect("node url"))
    }

    pub fn provider_address(&self, name: &str) -> Address {
        let d = self.devnet();
        let p = d["providers"].as_array().expect("providers").iter().find(|p| p["name"] == name).expect("provider");
        p["address"].as_str().expect("address").parse().expect("address")
    }

    pub fn tenant(&self) -> Address {
        stratus_client::keys::Keyring::new(self.path()).show("tenant").expect("tenant key").address
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
        drop(crate::devnet::Reaper(self.path().to_path_buf()));
    }
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), stdout(out), err(out));
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", stdout(out)))
}

/// GET / on a devnet service URI (`http://127.0.0.1:PORT`).
fn http_get(uri: &str) -> Option<String> {
    crate::provider::http_get(uri.strip_prefix("http://127.0.0.1:")?.trim_end_matches('/').parse().ok()?)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn balance(node: &NodeClient, a: &Address, denom: &str) -> u128 {
    let info = rt().block_on(node.account(a)).expect("account");
    info.balances.iter().find(|c| c.denom == denom).map_or(0, |c| c.amount)
}

fn supervisor_pid(home: &Path) -> String {
    let leases = home.join("providers/cpu/provider-data/leases");
    let lease = std::fs::read_dir(&leases).expect("leases").flatten().next().expect("a lease").path();
    std::fs::read_to_string(lease.join("replicas/web-0/supervisor.pid")).expect("supervisor.pid").trim().to_string()
}

fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

fn dseq_created(stderr: &str) -> u64 {
    let at = stderr.find("deployment ").expect("deployment line");
    stderr[at + "deployment ".len()..].split_whitespace().next().expect("dseq").parse().expect("dseq number")
}

const GENESIS_TENANT: u128 = 100_000_000_000;
const GENESIS_PROVIDER: u128 = 1_000_000_000;

#[test]
fn up_runs_resumes_explains_and_settles_exactly() {
    let home = Home::new();
    let h = home.path();

    // A fresh home: the devnet comes up, the built-in hello deploys, the cheapest bid wins.
    let first = ok_json(&home.up(&["--detach"]));
    let dseq = first["dseq"].as_u64().expect("dseq");
    let cpu = home.provider_address("cpu");
    assert_eq!(first["provider"], cpu.to_string(), "the CPU-only provider bids lowest on hello");
    assert_eq!(first["resumed"], false);
    let uri = first["services"]["web"][0].as_str().expect("web uri").to_string();
    assert!(http_get(&uri).is_some_and(|b| b.contains("hello from stratus")), "service at {uri} answers");
    let blocks = first["blocks_to_running"].as_u64().expect("blocks");
    let seconds = first["seconds_to_running"].as_f64().expect("seconds");
    assert!(blocks >= 2, "a bid block and a lease block come before running; got {blocks}");
    eprintln!("order → running: {blocks} blocks, {seconds} s");
    assert!(h.join("devnet.pid").exists() && h.join("devnet.log").exists());
    let status = home.run(&["--from", "tenant", "lease", "status", &dseq.to_string()]);
    assert!(stdout(&status).contains(": running"), "{}{}", stdout(&status), err(&status));

    // `up` again: the same deployment, nothing new created.
    let again = ok_json(&home.up(&["--detach"]));
    assert_eq!((again["dseq"].as_u64(), again["resumed"].as_bool()), (Some(dseq), Some(true)));

    // Down keeping workloads, up: the very same process is re-adopted.
    let pid = supervisor_pid(h);
    let down = home.run(&["down", "--keep-workloads"]);
    assert!(down.status.success(), "{}", err(&down));
    assert!(!h.join("devnet.pid").exists());
    assert!(pid_alive(&pid), "--keep-workloads leaves the workload running");
    let resumed = ok_json(&home.up(&["--detach"]));
    assert_eq!(resumed["dseq"].as_u64(), Some(dseq));
    assert_eq!(supervisor_pid(h), pid, "re-adopted, not restarted");

    // A full down stops the workload too; up brings the same lease back.
    let down = home.run(&["down"]);
    assert!(down.status.success() && stdout(&down).contains("1 workload(s) stopped"), "{}", stdout(&down));
    assert!(!pid_alive(&pid));
    assert!(http_get(&uri).is_none_or(|b| !b.contains("hello from stratus")));
    let back = ok_json(&home.up(&["--detach"]));
    assert_eq!((back["dseq"].as_u64(), back["resumed"].as_bool()), (Some(dseq), Some(true)));
    let node = home.node();
    let tenant = home.tenant();
    let info = rt().block_on(node.deployment(&DeploymentId { owner: tenant, dseq })).expect("deployment");
    assert_eq!(info.leases.len(), 1);
    assert_eq!(info.leases[0].state, LeaseState::Active, "a provider restart does not close the lease");
    let uri = back["services"]["web"][0].as_str().expect("uri").to_string();
    assert!(http_get(&uri).is_some_and(|b| b.contains("hello from stratus")));

    // Why no bids: every provider's reason, one line each; the deposit comes back.
    let h200 = h.join("h200.yaml");
    std::fs::write(
        &h200,
        include_str!("../../../../examples/hello.yaml").replace(
            "        storage:\n          size: 128Mi\n",
            "        storage:\n          size: 128Mi\n        gpu:\n          units: 1\n          attributes:\n            vendor:\n              nvidia:\n                - model: h200\n",
        ),
    )
    .expect("write");
    let none = home.up(&[h200.to_str().expect("path"), "--detach"]);
    let text = err(&none);
    assert_eq!(none.status.code(), Some(1), "{text}");
    assert!(stdout(&none).is_empty(), "no JSON when nothing runs");
    for line in [
        "(rtx4090 ×4): needs gpu h200; has rtx4090",
        "(h100 ×8): needs gpu h200; has h100",
        "(cpu only): needs gpu h200; has no GPUs",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("refunded to you: 5000000uact of the 5000000uact deposit"), "{text}");
    let declined = dseq_created(&text);
    // Other commands on the devnet's home find its node without --node.
    let bids = home.run(&["--from", "tenant", "bids", &declined.to_string()]);
    assert!(stdout(&bids).contains("needs gpu h200; has rtx4090"), "{}", stdout(&bids));

    // The foreground journey: logs stream until Ctrl-C, which closes the deployment and settles.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .arg("--home")
        .arg(h)
        .args(["--output", "json", "up"])
        .current_dir(h)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).expect("read") > 0, "up ended early:\n{seen}");
        seen.push_str(&line);
        if line.contains("http-echo listening") {
            break;
        }
    }
    // Lease long enough (10 blocks: 50uact) that the 2% take rate is at least one unit.
    let created_at = info.leases[0].created_at;
    while rt().block_on(node.status()).expect("status").height < created_at + 10 {
        std::thread::sleep(Duration::from_millis(200));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read rest");
    let status = child.wait().expect("wait");
    let mut phases = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut phases).expect("read stderr");
    assert!(phases.contains(&format!("resuming deployment {dseq}")) && phases.contains("[6/6] logs"), "{phases}");
    assert!(status.success(), "Ctrl-C after running is the normal end: {status:?}\n{rest}");
    // stdout is JSON only: log lines (one-line objects), then the pretty-printed settlement.
    let json = &rest[rest.find("\n{\n").map_or(0, |i| i + 1)..];
    let s: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {rest}"));

    // The money: exact, from the ledger.
    let info = rt().block_on(node.deployment(&DeploymentId { owner: tenant, dseq })).expect("deployment");
    let lease = &info.leases[0];
    assert_eq!(lease.state, LeaseState::Closed);
    let leased = lease.closed_at.expect("closed") - lease.created_at;
    assert_eq!(lease.price.amount.short(), "5", "hello costs 5uact/block at the CPU provider");
    let paid = 5 * u128::from(leased);
    assert_eq!(s["blocks_leased"].as_u64(), Some(leased));
    assert_eq!(s["paid"].as_u64().map(u128::from), Some(paid), "tenant paid exactly price × blocks");
    let take = paid * 200 / 10_000;
    assert!(take >= 1, "leased {leased} blocks");
    assert_eq!(s["take"].as_u64().map(u128::from), Some(take));
    assert_eq!(s["to_provider"].as_u64().map(u128::from), Some(paid - take));
    assert_eq!(s["refunded"].as_u64().map(u128::from), Some(5_000_000 - paid));
    assert_eq!(balance(&node, &tenant, "uact"), GENESIS_TENANT - paid, "deposits came back, fees are zero");
    assert_eq!(balance(&node, &cpu, "uact"), GENESIS_PROVIDER + paid - take, "bid deposit back plus earnings");
    for other in ["h100", "rtx4090"] {
        assert_eq!(
            balance(&node, &home.provider_address(other), "uact"),
            GENESIS_PROVIDER,
            "{other}'s lost bid refunded"
        );
    }
}

enum Expect {
    /// Some provider bids and a lease is made; the workload runs or fails with a clear status.
    Leased,
    /// Every provider declines; the reason names the problem.
    NoBids(&'static str),
    /// Refused before any order exists (invalid SDL, a denomination the chain does not accept).
    Refused(&'static str),
}

#[test]
fn awesome_akash_sample_gets_bids_where_a_provider_can_serve_it() {
    let home = Home::new();
    let corpus = crate::corpus().join("awesome-akash");
    let sample: [(&str, Expect); 10] = [
        // signedBy Akash's auditor and host=akash: the devnet's auditor stands in for it.
        ("tetris.yaml", Expect::Leased),
        ("neo4j.yaml", Expect::Leased),
        // Priced in uakt, one GPU of any model.
        ("akash-trainer.yaml", Expect::Leased),
        // One GPU (a100, h100 or rtx4090), a ram /dev/shm and a beta3 volume.
        ("DeepSeek-R1-Distill-Qwen-7B.yaml", Expect::Leased),
        ("n8n__deploy-with-postgres.yaml", Expect::Leased),
        // 8 GPUs per replica; the h100 provider has 4 per node.
        ("Llama-3.1-405B-BF16.yaml", Expect::NoBids("insufficient capacity")),
        (
            "chia-madmax__configs__bladebit-32-425-2000.yaml",
            Expect::NoBids("needs chia-plotting=true signed by one of akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"),
        ),
        ("Redash__Redash Queries.yaml", Expect::NoBids("needs storage class=beta1,persistent=true")),
        ("n8n.yaml", Expect::Refused("is not accepted here")),
        (
            "bark-small.yaml",
            Expect::Refused("bark-small.yaml:32:13: profiles.compute.bark-small.resources.storage[0].size"),
        ),
    ];
    let mut leased = 0;
    for (file, expect) in sample {
        let path: PathBuf = corpus.join(file);
        let out = home.up(&[path.to_str().expect("path"), "--detach"]);
        let text = err(&out);
        match expect {
            Expect::Leased => {
                assert!(text.contains("[3/6] lease"), "{file}: expected a lease:\n{text}");
                if !out.status.success() {
                    assert!(
                        text.contains("is not runnable by the host runtime")
                            && text.contains("settlement of deployment"),
                        "{file}: a lease that does not run must fail with a clear status and be settled:\n{text}"
                    );
                }
                leased += 1;
            }
            Expect::NoBids(why) => {
                assert_eq!(out.status.code(), Some(1), "{file}:\n{text}");
                assert!(
                    text.contains("every provider declined") && text.contains(why),
                    "{file}: want {why:?} in:\n{text}"
                );
            }
            Expect::Refused(why) => {
                assert_eq!(out.status.code(), Some(1), "{file}:\n{text}");
                assert!(text.contains(why) && !text.contains("[2/6]"), "{file}: want {why:?} in:\n{text}");
            }
        }
    }
    assert_eq!(leased, 5);
}

/// A service that exits at once is never reported running: `up` fails with the reason, the
/// provider closes the lease itself, and the tenant pays only the blocks until then.
#[test]
fn a_crash_looping_service_fails_up_and_is_billed_only_until_the_provider_closes_it() {
    let home = Home::new();
    let sdl = home.path().join("crash.yaml");
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.yaml"))
        .expect("hello.yaml")
        .replace("image: hashicorp/http-echo:1.0", "image: python:3.12")
        .replace(
            "args:\n      - -listen=:5678\n      - -text=hello from stratus",
            "command: [\"python3\", \"-c\", \"import sys; print('no config', file=sys.stderr); sys.exit(3)\"]",
        );
    assert!(text.contains("sys.exit(3)"), "the example changed shape:\n{text}");
    std::fs::write(&sdl, &text).expect("write");
    let out = home.up(&[sdl.to_str().expect("utf-8"), "--detach"]);
    let said = format!("{}{}", stdout(&out), err(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(!said.contains("[5/6] running"), "a crash loop was reported running:\n{said}");
    assert!(said.contains("crash loop") && said.contains("no config"), "the reason is shown:\n{said}");
    let dseq = dseq_created(&err(&out));
    let info = rt().block_on(home.node().deployment(&DeploymentId { owner: home.tenant(), dseq })).expect("deployment");
    let lease = &info.leases[0];
    assert_ne!(lease.state, LeaseState::Active);
    let billed = lease.closed_at.expect("closed") - lease.created_at;
    eprintln!("crash-looping service: {billed} block(s) billed, close reason {:?}", lease.close_reason);
    // Five quick exits with back-off (0.5 + 1 + 2 + 4 s) plus the close: well under 30 blocks
    // at the devnet's 1 s blocks; the old behaviour billed until a 15-minute timer.
    assert!(billed <= 30, "billed {billed} blocks");
}

/// Without bubblewrap the devnet's providers could run nothing: `up` says so at once, with the
/// fix, instead of waiting for bids that cannot come.
#[test]
fn up_without_bubblewrap_stops_at_once_with_the_fix() {
    let home = Home::new();
    let started = std::time::Instant::now();
    let out = home.run_with_path(&["up", "--detach"], "/nonexistent");
    let said = err(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("bubblewrap (bwrap) not found; apt-get install bubblewrap"), "{said}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(!home.path().join("devnet.json").exists(), "nothing was created");
}

/// Removes every engine object with a label when a test ends, passing or not (containers outlive
/// a devnet's `down` by design), after taking the devnet down.
struct RemoveLabelled<'a>(&'a Home, String);

impl Drop for RemoveLabelled<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["down"]);
        let podman = |args: &[&str]| {
            let out = Command::new("timeout").arg("60").arg("podman").args(args).output();
            out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
        };
        for kind in [&["ps", "-a", "-q"][..], &["volume", "ls", "-q"], &["network", "ls", "-q"]] {
            let ids = podman(&[kind, &["--filter", self.1.as_str()]].concat());
            for id in ids.lines() {
                let rm: &[&str] = match kind[0] {
                    "ps" => &["rm", "-f"],
                    "volume" => &["volume", "rm", "-f"],
                    _ => &["network", "rm", "-f"],
                };
                podman(&[rm, &[id]].concat());
            }
        }
    }
}

/// `up --runtime container`: the devnet's providers run OCI containers (podman here, started by
/// the devnet in its home when no engine answers). The market loop over it: lease → container
/// running → HTTP through the published port → the devnet SIGKILLed and `up` again → the same
/// container, not restarted → a manifest update keeps the persistent volume's data → the
/// deployment closed → no container, volume or network of it left.
#[test]
fn a_container_devnet_runs_readopts_updates_and_cleans_up() {
    use crate::container::{IMAGE, build_image, podman, sdl};
    let _turn = crate::container::engine_turn();
    let home = Home::new();
    let h = home.path();
    build_image(h);
    let file = h.join("web.yaml");
    std::fs::write(&file, sdl(IMAGE, "first")).expect("write");
    let path = file.to_str().expect("utf-8");
    let first = ok_json(&home.up(&["--runtime", "container", "--detach", path]));
    let dseq = first["dseq"].as_u64().expect("dseq");
    let uri = first["services"]["web"][0].as_str().expect("web uri").to_string();
    assert!(http_get(&uri).is_some_and(|b| b.contains("hello from a container")), "service at {uri} answers");
    eprintln!(
        "container devnet: order → running in {} blocks, {} s",
        first["blocks_to_running"], first["seconds_to_running"]
    );
    // This devnet's tenant is new (its key is made with the devnet): its label singles out this
    // test's objects on an engine other tests and earlier runs share.
    let owner = format!("label=io.stratus.owner={}", home.tenant());
    let _cleanup = RemoveLabelled(&home, owner.clone());
    let filter = format!("label=io.stratus.dseq={dseq}");
    let name = podman(&["ps", "--format", "{{.Names}}", "--filter", &owner, "--filter", &filter]);
    assert!(name.starts_with("stratus-") && name.ends_with("-web-0"), "{name:?}");
    let id = podman(&["inspect", "-f", "{{.Id}}", &name]);
    let started_at = podman(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
    podman(&["exec", &name, "sh", "-c", "echo kept > /data/note"]);

    // The whole devnet (node and providers) SIGKILLed, then `up` again: the deployment resumes
    // and the provider finds its container running — the same one, not restarted.
    let pid = std::fs::read_to_string(h.join("devnet.pid")).expect("devnet.pid").trim().to_string();
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().is_ok_and(|s| s.success()));
    let again = ok_json(&home.up(&["--detach", path]));
    assert_eq!((again["dseq"].as_u64(), again["resumed"].as_bool()), (Some(dseq), Some(true)));
    assert_eq!(podman(&["inspect", "-f", "{{.Id}}", &name]), id, "the same container");
    assert_eq!(podman(&["inspect", "-f", "{{.State.StartedAt}}", &name]), started_at, "not restarted");

    // A manifest update: a new container, the persistent volume's data kept.
    std::fs::write(&file, sdl(IMAGE, "second")).expect("write");
    let out = home.run(&["--from", "tenant", "deploy", "update", &dseq.to_string(), path]);
    assert!(out.status.success(), "{}", err(&out));
    let logs = crate::provider::wait_for("the updated container", Duration::from_secs(60), || {
        let out = std::process::Command::new("podman").args(["logs", &name]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("NOTE=second").then_some(text)
    });
    assert!(logs.contains("kept"), "the volume kept its data: {logs}");
    assert_ne!(podman(&["inspect", "-f", "{{.Id}}", &name]), id);

    // An awesome-akash template, unmodified but for its image (re-tagged to one built here, whose
    // default command shows what the template gave it): its env, port and persistent volume.
    let template = crate::corpus().join("awesome-akash/speedtest-tracker.yaml");
    let text = std::fs::read_to_string(&template)
        .expect("the shared corpus")
        .replace("image: henrywhitaker3/speedtest-tracker", "image: localhost/stratus-test/speedtest:1");
    assert!(text.contains("localhost/stratus-test/speedtest:1"), "the template changed shape");
    crate::container::build_image_as(
        h,
        "localhost/stratus-test/speedtest:1",
        r#"CMD ["/bin/sh", "-c", "echo EULA=$OOKLA_EULA_GDPR AUTH=$AUTH; echo saved > /config/proof; cat /config/proof; exec httpd -f -p 80 -h /www"]"#,
    );
    let speedtest = h.join("speedtest.yaml");
    std::fs::write(&speedtest, text).expect("write");
    let ran = ok_json(&home.up(&["--detach", speedtest.to_str().expect("utf-8")]));
    let uri = ran["services"]["speedtest-tracker"][0].as_str().expect("uri").to_string();
    assert!(http_get(&uri).is_some_and(|b| b.contains("hello from a container")), "{uri} answers");
    let mine = format!("label=io.stratus.dseq={}", ran["dseq"]);
    let template_name = podman(&["ps", "--format", "{{.Names}}", "--filter", &owner, "--filter", &mine]);
    let logs = crate::provider::wait_for("the template's container logs", Duration::from_secs(30), || {
        let out = std::process::Command::new("podman").args(["logs", &template_name]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("saved").then_some(text)
    });
    assert!(logs.contains("EULA=true AUTH=false"), "the template's env: {logs}");
    let mounts = podman(&["inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}", &template_name]);
    assert!(mounts.contains("volume:/config"), "the persistent volume at its mount: {mounts}");

    // Closed: the provider removes everything of the lease.
    let out = home.run(&["--from", "tenant", "deploy", "close", &dseq.to_string()]);
    assert!(out.status.success(), "{}", err(&out));
    let lease = format!("label=io.stratus.lease={}", name.split('-').nth(1).unwrap_or_default());
    let left = || {
        // One label filter: podman ANDs several only for containers.
        [
            podman(&["ps", "-a", "-q", "--filter", &lease]),
            podman(&["volume", "ls", "-q", "--filter", &lease]),
            podman(&["network", "ls", "-q", "--filter", &lease]),
        ]
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while left().iter().any(|l| !l.is_empty()) {
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(h.join("devnet.log")).unwrap_or_default();
            let tail: Vec<&str> =
                log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("tearing")).collect();
            panic!("left of the lease after 60 s: {:?}\n{}", left(), tail[tail.len().saturating_sub(15)..].join("\n"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn up_with_four_validators_runs_the_marketplace_on_a_bft_chain() {
    let home = Home::new();
    let first = ok_json(&home.up(&["--validators", "4", "--detach"]));
    let uri = first["services"]["web"][0].as_str().expect("web uri").to_string();
    assert!(http_get(&uri).is_some_and(|b| b.contains("hello from stratus")), "service at {uri} answers");
    assert_eq!(home.devnet()["validators"], 4);
    let node = home.devnet()["node"].as_str().expect("node").to_string();
    let status: serde_json::Value =
        reqwest::blocking::get(format!("{node}/status")).expect("status").json().expect("json");
    assert_eq!(status["consensus"]["engine"], "bft", "{status}");
    assert_eq!(status["consensus"]["peers"].as_array().map(Vec::len), Some(3), "the other three validators: {status}");
    // Blocks are decided by a quorum: at least three of the four validators' precommits.
    let log = std::fs::read_to_string(home.path().join("devnet.log")).expect("log");
    assert!(
        log.lines()
            .any(|l| l.contains("decided: bft round") && (l.contains(" 3 precommits") || l.contains(" 4 precommits"))),
        "the BFT engine decides the devnet's blocks"
    );
    // The devnet serves the web console, which reads the node through its proxy.
    let console = first["console"].as_str().expect("console url").to_string();
    let page = reqwest::blocking::get(&console).expect("console").text().expect("text");
    assert!(page.contains("Stratus console"), "{page}");
    let proxied: serde_json::Value =
        reqwest::blocking::get(format!("{console}api/status")).expect("proxy").json().expect("json");
    assert_eq!(proxied["consensus"]["engine"], "bft", "{proxied}");
    // An existing devnet keeps its validators.
    let other = home.up(&["--validators", "1", "--detach"]);
    assert!(!other.status.success() && err(&other).contains("has 4 validators, not 1"), "{}", err(&other));
}
