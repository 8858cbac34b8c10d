//! The market loop with real processes on loopback: a node, two provider daemons (one with 4×
//! rtx4090, one CPU-only and pricier), tenants using the CLI and the gateway client. Bids are won
//! and lost, manifests accepted and refused, workloads run in bubblewrap and answer HTTP, logs
//! stream, a killed provider re-adopts its workloads, leases are torn down, and the money adds up
//! exactly.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use stratus_client::NodeClient;
use stratus_client::provider::ProviderClient;
use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::gateway::StreamFrame;
use stratus_types::market::{DeploymentId, Lease, LeaseState};
use stratus_types::tx::Msg;

use crate::devnet::{NodeProcess, ProviderProcess, cli, free_port, init};
use crate::stdout;

const HELLO: &str = "version: \"2.0\"
services:
  web:
    image: hashicorp/http-echo:1.0
    args: [\"-listen=:5678\", \"-text=hello from stratus\"]
    expose:
      - port: 5678
        as: 80
        to:
          - global: true
profiles:
  compute:
    web:
      resources:
        cpu: {units: 0.1}
        memory: {size: 64Mi}
        storage: {size: 128Mi}
  placement:
    dc:
      pricing:
        web: {denom: uact, amount: 100}
deployment:
  web:
    dc: {profile: web, count: 1}
";

fn provider_config(dir: &Path, key: &str, gpus: &str, cpu_price: &str, ports: &str, node: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let port = free_port();
    let text = format!(
        r#"key = "{key}"
node = "{node}"
host_uri = "https://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
attributes = {{ region = "eu-west" }}

[inventory]
persistent = {{ beta3 = "10Gi" }}

[[inventory.nodes]]
name = "n1"
cpu = "8"
memory = "16Gi"
storage = "100Gi"
{gpus}

[pricing]
cpu_per_core = "{cpu_price}"

[bidding]
manifest_timeout_blocks = 8
withdraw_period_blocks = 1000000

[runtime]
port_range = "{ports}"

[[runtime.images]]
image = "hashicorp/http-echo*"
command = ["{{stratus}}", "workload", "http-echo"]
"#
    );
    let path = dir.join("provider.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn address_of(home: &Path, name: &str) -> Address {
    stratus_client::keys::Keyring::new(home).show(name).expect("key").address
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout(out)).unwrap_or(serde_json::Value::Null)
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn key(home: &Path, name: &str) -> ed25519_dalek::SigningKey {
    stratus_client::keys::Keyring::new(home).signing_key(name, None).expect("key")
}

fn balance(node: &NodeClient, a: &Address) -> u128 {
    let info = rt().block_on(node.account(a)).expect("account");
    info.balances.iter().find(|c| c.denom == "uact").map_or(0, |c| c.amount)
}

#[test]
fn bid_win_lose_run_readopt_teardown_and_settle() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let _reaper = crate::devnet::Reaper(h.to_path_buf());
    let funds = "10000000000uact";
    init(
        h,
        &[
            "--account",
            &format!("alice={funds}"),
            "--account",
            &format!("mallory={funds}"),
            "--account",
            &format!("p1={funds}"),
            "--account",
            &format!("p2={funds}"),
            "--block-time",
            "200ms",
        ],
    );
    let node = NodeProcess::start(h, "200ms");
    let gpus = r#"gpus = [{ model = "rtx4090", count = 4 }]"#;
    let c1 = provider_config(&h.join("p1"), "p1", gpus, "10", "33000-33099", &node.url);
    let c2 = provider_config(&h.join("p2"), "p2", "", "200", "33100-33199", &node.url);
    let p1 = ProviderProcess::start(h, &c1);
    let p2 = ProviderProcess::start(h, &c2);
    let run = |args: &[&str]| cli(h, &node.url, args);
    let sdl = h.join("hello.yaml");
    std::fs::write(&sdl, HELLO).expect("write sdl");
    let sdl_s = sdl.to_str().expect("utf-8");
    let nodec = {
        stratus_client::install_tls_provider();
        NodeClient::new(&node.url)
    };
    let alice: Address = stratus_client::keys::Keyring::new(h).show("alice").expect("alice").address;
    let p1_addr: Address = p1.address.parse().expect("address");

    // Both providers bid: p1 cheaply, p2 at 200/core (0.1 core → 20 + memory + storage + endpoint).
    let created =
        ok(&run(&["--from", "alice", "--output", "json", "deploy", "create", sdl_s, "--deposit", "5000000uact"]));
    let dseq = created["dseq"].as_u64().expect("dseq");
    let d = dseq.to_string();
    let bids = wait_for("two bids", Duration::from_secs(30), || {
        let b = ok(&run(&["--from", "alice", "--output", "json", "bids", &d]));
        (b["items"].as_array().map_or(0, Vec::len) == 2).then_some(b)
    });
    let price_of = |who: &str| -> String {
        bids["items"].as_array().expect("items").iter().find(|b| b["id"]["provider"] == who).expect("bid")["price"]["amount"].as_str().expect("price").to_string()
    };
    assert!(price_of(&p1.address).parse::<f64>().unwrap() < price_of(&p2.address).parse::<f64>().unwrap());

    // A provider restarted while its bid is open does not bid on the order again (the ledger
    // would refuse: "already bid"); it looks its own bids up first.
    p2.kill();
    let p2 = ProviderProcess::start(h, &c2);
    let bids_before = bids["items"].as_array().map_or(0, Vec::len);
    wait_for("p2 to catch up on open orders", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(h.join("provider.log")).unwrap_or_default();
        (log.matches("provider running").count() >= 3).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    let log = std::fs::read_to_string(h.join("provider.log")).unwrap_or_default();
    assert!(!log.contains("already bid"), "a restarted provider bid twice:\n{log}");
    let again = ok(&run(&["--from", "alice", "--output", "json", "bids", &d]));
    assert_eq!(again["items"].as_array().map_or(0, Vec::len), bids_before);

    // Win (p1) and lose (p2). `lease create` sends the manifest kept by `deploy create`.
    let p1_before = balance(&nodec, &p1_addr);
    let alice_before = balance(&nodec, &alice);
    let leased = run(&["--from", "alice", "lease", "create", &d, "--provider", "p1"]);
    assert!(
        String::from_utf8_lossy(&leased.stderr).contains("manifest sent"),
        "{}",
        String::from_utf8_lossy(&leased.stderr)
    );
    let status = wait_for("the service running", Duration::from_secs(30), || {
        let s = ok(&run(&["--from", "alice", "--output", "json", "lease", "status", &d]));
        (s[0]["state"] == "running").then_some(s)
    });
    let uri = status[0]["services"][0]["uris"][0].as_str().expect("uri").to_string();
    let port: u16 = uri.rsplit(':').next().expect("port").parse().expect("port");
    wait_for("an HTTP answer", Duration::from_secs(10), || http_get(port).filter(|b| b.contains("hello from stratus")));

    // The loser forgets its reservation.
    let p2_rec = rt().block_on(nodec.provider(&p2.address.parse().expect("addr"))).expect("p2");
    let p2_client = ProviderClient::new(&p2_rec, key(h, "alice")).expect("client");
    wait_for("p2 to release its lost bid", Duration::from_secs(20), || {
        rt().block_on(p2_client.status())
            .ok()
            .filter(|s| s.open_bids == 0 && s.inventory.cpu_millis_free == s.inventory.cpu_millis_total)
    });

    // Logs: the startup line, then a request's line arrives while following.
    let logs = run(&["--from", "alice", "lease", "logs", &d]);
    assert!(stdout(&logs).contains("[web-0] http-echo listening on 0.0.0.0:5678"), "{}", stdout(&logs));
    let p1_rec = rt().block_on(nodec.provider(&p1_addr)).expect("p1");
    let lease_id = DeploymentId { owner: alice, dseq }.group(1).order(1).bid(p1_addr);
    let alice_gw = ProviderClient::new(&p1_rec, key(h, "alice")).expect("client");
    rt().block_on(async {
        let mut stream = alice_gw.logs(&lease_id, Some("web"), 0, true).await.expect("follow");
        let _ = http_get(port);
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(f) = stream.next().await {
                if let Ok(StreamFrame::Log(l)) = f
                    && l.line.contains("GET / HTTP/1.1")
                {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(seen, Ok(true), "the request's log line streams");
    });

    // Manifests the provider must refuse, and callers it must not answer.
    let parsed = stratus_sdl::parse_str(HELLO).sdl.expect("sdl");
    let mut tampered = parsed.manifest.clone();
    tampered[0].services[0].image = "evil:latest".into();
    let err = rt().block_on(alice_gw.send_manifest(&alice, dseq, &tampered)).unwrap_err().to_string();
    assert!(err.contains("does not match the deployment's") && err.contains("400"), "{err}");
    let mallory_gw = ProviderClient::new(&p1_rec, key(h, "mallory")).expect("client");
    let err = rt().block_on(mallory_gw.send_manifest(&alice, dseq, &parsed.manifest)).unwrap_err().to_string();
    assert!(err.contains("403") && err.contains("may not access"), "{err}");
    let err = rt().block_on(mallory_gw.lease_status(&lease_id)).unwrap_err().to_string();
    assert!(err.contains("403") && !err.contains("running"), "{err}");
    let raw = reqwest::blocking::Client::builder().danger_accept_invalid_certs(true).build().expect("client");
    let r = raw.get(format!("{}/lease/{}/{dseq}/1/1/status", p1_rec.host_uri, alice)).send().expect("request");
    assert_eq!(r.status().as_u16(), 401);
    // Resources that differ from what the lease pays for (the version matches the tampered
    // manifest, so only the resource check can catch it).
    let mut bigger = parsed.manifest.clone();
    bigger[0].services[0].resources.memory.as_mut().expect("memory").quantity.0 *= 4;
    let version = stratus_types::manifest::manifest_version(&bigger);
    let dseq2 = dseq + 1000;
    let tx = Msg::CreateDeployment {
        dseq: dseq2,
        groups: parsed.groups.clone(),
        version,
        deposit: Coin::new(5_000_000, "uact"),
        gang: false,
    };
    let alice_key = key(h, "alice");
    let r = rt().block_on(nodec.send_msgs(&alice_key, vec![tx], Coin::new(0, "uact"), true)).expect("deploy");
    assert!(r.error.is_none(), "{r:?}");
    let bid2 = wait_for("p1's bid on the second deployment", Duration::from_secs(30), || {
        let b = ok(&run(&["--from", "alice", "--output", "json", "bids", &dseq2.to_string()]));
        b["items"].as_array().and_then(|a| a.iter().find(|b| b["id"]["provider"] == p1.address.as_str()).cloned())
    });
    let bid2_id = DeploymentId { owner: alice, dseq: dseq2 }.group(1).order(1).bid(p1_addr);
    assert_eq!(bid2["id"]["dseq"].as_u64(), Some(dseq2));
    let r = rt()
        .block_on(nodec.send_msgs(
            &alice_key,
            vec![Msg::CreateLease { bid: bid2_id.clone() }],
            Coin::new(0, "uact"),
            true,
        ))
        .expect("lease");
    assert!(r.error.is_none(), "{r:?}");
    let err = rt().block_on(alice_gw.send_manifest(&alice, dseq2, &bigger)).unwrap_err().to_string();
    assert!(err.contains("different CPU, memory"), "{err}");
    // Never sent a good manifest: the provider closes the lease after its manifest timeout.
    let closed = wait_for("the manifest timeout", Duration::from_secs(30), || {
        let info = rt().block_on(nodec.deployment(&DeploymentId { owner: alice, dseq: dseq2 })).ok()?;
        info.leases.into_iter().find(|l| l.state == LeaseState::Closed)
    });
    assert_eq!(closed.close_reason, Some(stratus_types::market::CloseReason::ManifestTimeout));

    // Kill the provider (not its workloads); a new one re-adopts: same process, no restart.
    let dir_of = |lease: &stratus_types::market::LeaseId| {
        h.join("p1/provider-data/leases").join(stratus_provider::runtime::lease_key(lease))
    };
    let status_file = dir_of(&lease_id).join("replicas/web-0/status.json");
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&status_file).expect("status")).expect("json");
    p1.kill();
    let p1 = ProviderProcess::start(h, &c1);
    wait_for("the service reachable again", Duration::from_secs(20), || {
        http_get(port).filter(|b| b.contains("hello from stratus"))
    });
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&status_file).expect("status")).expect("json");
    assert_eq!((after["pid"].clone(), after["restarts"].clone()), (before["pid"].clone(), before["restarts"].clone()));
    let s = ok(&run(&["--from", "alice", "--output", "json", "lease", "status", &d]));
    assert_eq!(s[0]["state"], "running");

    // Close: torn down, data deleted, and the money adds up exactly.
    ok(&run(&["--from", "alice", "deploy", "close", &d]));
    wait_for("teardown", Duration::from_secs(20), || {
        (!dir_of(&lease_id).exists() && http_get(port).is_none()).then_some(())
    });
    let info = rt().block_on(nodec.deployment(&DeploymentId { owner: alice, dseq })).expect("deployment");
    let lease: Lease = info.leases.into_iter().next().expect("lease");
    let blocks = lease.closed_at.expect("closed") - lease.created_at;
    let accrued = lease.price.amount.mul_u64(blocks).expect("accrued");
    assert_eq!(lease.accrued, accrued, "price × blocks leased");
    assert_eq!(lease.withdrawn, accrued.floor(), "the provider got every whole unit");
    // Close the second deployment too, so every escrow is settled; then the balances say it all
    // (fees are 0 on this devnet): p1 got each lease's whole units plus its first bid deposit
    // back (it was held when `p1_before` was read), alice paid exactly those units and got the
    // first deposit back (also held at `alice_before`).
    let r = rt()
        .block_on(nodec.send_msgs(&alice_key, vec![Msg::CloseDeployment { dseq: dseq2 }], Coin::new(0, "uact"), true))
        .expect("close 2");
    assert!(r.error.is_none(), "{r:?}");
    let info2 = rt().block_on(nodec.deployment(&DeploymentId { owner: alice, dseq: dseq2 })).expect("deployment 2");
    let w2: u128 = info2.leases.iter().map(|l| l.withdrawn).sum();
    let bid_deposit = 500_000;
    assert_eq!(balance(&nodec, &p1_addr), p1_before + bid_deposit + lease.withdrawn + w2);
    assert_eq!(balance(&nodec, &alice), alice_before + 5_000_000 - lease.withdrawn - w2);
    drop((p1, p2));
}

const VOLUMES: &str = r#"version: "2.0"
services:
  job:
    image: python:3.12-slim
    command: ["python3", "-u", "-c"]
    args:
      - |
        import os, time
        p = '/data/count'
        n = int(open(p).read()) + 1 if os.path.exists(p) else 1
        open(p, 'w').write(str(n))
        st = os.statvfs('/dev/shm')
        print('shm_bytes', st.f_blocks * st.f_frsize)
        print('starts', n)
        print('secrets_visible', os.path.exists(os.environ['SECRET']))
        try:
            open('/usr/stratus-test', 'w')
            print('usr_writable True')
        except OSError:
            print('usr_writable False')
        print('pids', len([d for d in os.listdir('/proc') if d.isdigit()]))
        print('mark', os.environ.get('MARK'))
        time.sleep(3600)
    env:
      - MARK=1
      - SECRET=__SECRET__
    expose:
      - port: 8080
        to:
          - global: true
    params:
      storage:
        shm: {mount: /dev/shm}
        data: {mount: /data}
profiles:
  compute:
    job:
      resources:
        cpu: {units: 0.1}
        memory: {size: 128Mi}
        storage:
          - size: 128Mi
          - name: shm
            size: 256Mi
            attributes: {class: ram, persistent: false}
          - name: data
            size: 1Gi
            attributes: {class: beta3, persistent: true}
  placement:
    dc:
      pricing:
        job: {denom: uact, amount: 1000}
deployment:
  job:
    dc: {profile: job, count: 1}
"#;

/// Waits until the lease's logs contain `needle`; returns them.
fn logs_with(run: &dyn Fn(&[&str]) -> Output, dseq: &str, needle: &str) -> String {
    wait_for(needle, Duration::from_secs(30), || {
        let out = stdout(&run(&["--from", "alice", "lease", "logs", dseq]));
        out.contains(needle).then_some(out)
    })
}

#[test]
fn sandboxes_get_ram_shm_keep_persistent_data_and_see_no_secrets() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let _reaper = crate::devnet::Reaper(h.to_path_buf());
    init(h, &["--account", "alice=10000000000uact", "--account", "p1=10000000000uact", "--block-time", "200ms"]);
    let node = NodeProcess::start(h, "200ms");
    let mut c1 = provider_config(&h.join("p1"), "p1", "", "1", "33200-33299", &node.url);
    let text =
        std::fs::read_to_string(&c1).expect("config").replace("[bidding]", "[bidding]\nbid_timeout_blocks = 1000");
    let text = text + "\n[[runtime.images]]\nimage = \"python:*\"\n";
    std::fs::write(&c1, text).expect("config");
    c1 = c1.canonicalize().expect("path");
    let p1 = ProviderProcess::start(h, &c1);
    let run = |args: &[&str]| cli(h, &node.url, args);
    // The provider's secret key file: a workload must not see it.
    let secret = h.join("keyring/p1.json");
    let sdl = h.join("job.yaml");
    std::fs::write(&sdl, VOLUMES.replace("__SECRET__", secret.to_str().expect("utf-8"))).expect("write");
    let sdl_s = sdl.to_str().expect("utf-8");
    let created =
        ok(&run(&["--from", "alice", "--output", "json", "deploy", "create", sdl_s, "--deposit", "5000000uact"]));
    let d = created["dseq"].as_u64().expect("dseq").to_string();
    wait_for("a bid", Duration::from_secs(30), || {
        let b = ok(&run(&["--from", "alice", "--output", "json", "bids", &d]));
        (b["items"].as_array().map_or(0, Vec::len) == 1).then_some(())
    });
    ok(&run(&["--from", "alice", "lease", "create", &d, "--provider", "p1"]));
    let logs = logs_with(&run, &d, "mark 1");
    assert!(logs.contains(&format!("shm_bytes {}", 256 << 20)), "the ram volume is /dev/shm, sized: {logs}");
    assert!(logs.contains("starts 1"), "{logs}");
    assert!(logs.contains("secrets_visible False"), "{logs}");
    assert!(logs.contains("usr_writable False"), "{logs}");
    assert!(logs.contains("pids 2") || logs.contains("pids 3"), "only its own processes: {logs}");

    // A provider restart re-adopts: the replica is not restarted (still one start).
    p1.kill();
    let p1 = ProviderProcess::start(h, &c1);
    std::thread::sleep(Duration::from_millis(500));
    let logs = stdout(&run(&["--from", "alice", "lease", "logs", &d]));
    assert!(!logs.contains("starts 2"), "{logs}");

    // A manifest update restarts the replica with the new environment; the data stays.
    std::fs::write(&sdl, VOLUMES.replace("MARK=1", "MARK=2").replace("__SECRET__", secret.to_str().expect("utf-8")))
        .expect("write");
    let up = run(&["--from", "alice", "deploy", "update", &d, sdl_s]);
    ok(&up);
    assert!(String::from_utf8_lossy(&up.stderr).contains("manifest sent"), "{}", String::from_utf8_lossy(&up.stderr));
    let logs = logs_with(&run, &d, "mark 2");
    assert!(logs.contains("starts 2"), "the persistent volume kept its data: {logs}");
    drop(p1);
}

/// A workload that cannot start is failed at once and its lease closed by the provider, so the
/// tenant pays a few blocks; a provider whose runtime cannot run anything bids on nothing and
/// tells the tenant why.
#[test]
fn an_image_the_host_cannot_run_fails_with_a_reason() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let _reaper = crate::devnet::Reaper(h.to_path_buf());
    init(
        h,
        &[
            "--account",
            "alice=10000000000uact",
            "--account",
            "p1=10000000000uact",
            "--account",
            "p2=10000000000uact",
            "--block-time",
            "200ms",
        ],
    );
    let node = NodeProcess::start(h, "200ms");
    let c1 = provider_config(&h.join("p1"), "p1", "", "1", "33300-33399", &node.url);
    let _p1 = ProviderProcess::start(h, &c1);
    let c2 = provider_config(&h.join("p2"), "p2", "", "1", "33400-33499", &node.url);
    let text = std::fs::read_to_string(&c2)
        .expect("read")
        .replace("[runtime]\n", "[runtime]\nbwrap = \"/nonexistent/bwrap\"\n");
    std::fs::write(&c2, text).expect("write");
    let _p2 = ProviderProcess::start(h, &c2);
    let run = |args: &[&str]| cli(h, &node.url, args);
    let sdl = h.join("nginx.yaml");
    std::fs::write(&sdl, HELLO.replace("hashicorp/http-echo:1.0", "nginx:1.27")).expect("write");
    let created = ok(&run(&[
        "--from",
        "alice",
        "--output",
        "json",
        "deploy",
        "create",
        sdl.to_str().expect("utf-8"),
        "--deposit",
        "5000000uact",
    ]));
    let d = created["dseq"].as_u64().expect("dseq").to_string();
    wait_for("a bid", Duration::from_secs(30), || {
        let b = ok(&run(&["--from", "alice", "--output", "json", "bids", &d]));
        (b["items"].as_array().map_or(0, Vec::len) == 1).then_some(())
    });
    // p2 has no sandbox: no bid, and its decision says why and how to fix it.
    stratus_client::install_tls_provider();
    let nodec = NodeClient::new(&node.url);
    let p2_addr = address_of(h, "p2");
    let p2_rec = rt().block_on(nodec.provider(&p2_addr)).expect("p2 registered");
    let p2_gw = ProviderClient::new(&p2_rec, key(h, "alice")).expect("client");
    let alice = address_of(h, "alice");
    let dseq: u64 = d.parse().expect("dseq");
    let why = wait_for("p2's decision", Duration::from_secs(20), || {
        let ds = rt().block_on(p2_gw.decisions(&alice, dseq)).ok()?;
        ds.into_iter().next()
    });
    assert!(why.bid.is_none(), "{why:?}");
    assert!(
        why.reason
            .contains("runtime unavailable: bubblewrap (/nonexistent/bwrap) not found; apt-get install bubblewrap"),
        "{}",
        why.reason
    );

    ok(&run(&["--from", "alice", "lease", "create", &d, "--provider", "p1"]));
    let leased_at = rt().block_on(nodec.status()).expect("status").height;
    let status = wait_for("a failed status", Duration::from_secs(20), || {
        let s = ok(&run(&["--from", "alice", "--output", "json", "lease", "status", &d]));
        (s[0]["state"] == "failed").then_some(s)
    });
    let failed_at = rt().block_on(nodec.status()).expect("status").height;
    let note = status[0]["services"][0]["replicas"][0]["message"].as_str().expect("message");
    assert!(note.contains("image nginx:1.27 is not runnable by the host runtime"), "{note}");
    let table = stdout(&run(&["--from", "alice", "lease", "status", &d]));
    assert!(table.contains("failed") && table.contains("not runnable"), "{table}");

    // The provider closes the lease itself, with the reason on the ledger.
    let lease = wait_for("the lease closed", Duration::from_secs(20), || {
        let info = rt().block_on(nodec.deployment(&DeploymentId { owner: alice, dseq })).ok()?;
        info.leases.into_iter().find(|l| l.closed_at.is_some())
    });
    let billed = lease.closed_at.expect("closed") - lease.created_at;
    eprintln!(
        "failed start: reported failed {} block(s) after the lease, {billed} block(s) billed, reason {:?}",
        failed_at - leased_at,
        lease.close_reason
    );
    assert_eq!(lease.close_reason, Some(stratus_types::market::CloseReason::WorkloadFailed));
    // Lease, manifest, failure, close: a handful of 200 ms blocks, not minutes.
    assert!(billed <= 15, "billed {billed} blocks for a workload that never started");
}
