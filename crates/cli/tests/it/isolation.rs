//! A hostile tenant's workload against the host runtime, run as the provider runs it (as root,
//! the `stratus` binary's supervisor and init, real bubblewrap sandboxes). Each test plays the
//! attacker and asserts what it reached: nothing but its own lease.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stratus_provider::config::ImageRule;
use stratus_provider::pure::inventory::{ReplicaPlacement, Reservation};
use stratus_provider::runtime::host::{HostRuntime, HostSettings};
use stratus_provider::runtime::{LeaseDeployment, Runtime};
use stratus_types::address::Address;
use stratus_types::gateway::ReplicaState;
use stratus_types::market::{LeaseId, OrderId};

use crate::provider::wait_for;

pub fn address(seed: u8) -> Address {
    Address::from_public_key(&[seed; 32])
}

fn lease(dseq: u64) -> LeaseId {
    LeaseId { owner: address(1), dseq, gseq: 1, oseq: 1, provider: address(9) }
}

fn runtime(data: &Path, secrets: Vec<PathBuf>) -> HostRuntime {
    HostRuntime::new(HostSettings {
        data_dir: data.to_path_buf(),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_stratus")),
        images: vec![ImageRule { image: "python:*".into(), command: None, network: Default::default() }],
        secrets,
        log_max_bytes: 1 << 20,
        log_files: 2,
        listen_host: "127.0.0.1".into(),
        public_host: "127.0.0.1".into(),
        provider: address(9).to_string(),
        max_restarts: 3,
        uid_base: 3_000_000,
        bwrap: "bwrap".into(),
    })
}

/// A deployment of one SDL's only group, with a host port for every global port from `first`.
pub fn deployment(lease: LeaseId, sdl: &str, first: u16) -> LeaseDeployment {
    let parsed = stratus_sdl::parse(sdl.as_bytes());
    let sdl = parsed.sdl.unwrap_or_else(|| panic!("invalid test SDL: {:?}", parsed.diagnostics));
    let group = sdl.manifest[0].clone();
    let mut host_ports = std::collections::BTreeMap::new();
    for (host_port, (service, port, _, _)) in (first..).zip(stratus_provider::runtime::host::global_ports(&group)) {
        host_ports.insert(format!("{service}:{port}"), host_port);
    }
    let replicas = group
        .services
        .iter()
        .map(|s| ReplicaPlacement {
            unit: s.resources.id,
            index: 0,
            node: "n".into(),
            gpus: vec![],
            cpu_millis: 100,
            memory: 64 << 20,
            ephemeral: 64 << 20,
        })
        .collect();
    let order = OrderId { owner: lease.owner, dseq: lease.dseq, gseq: lease.gseq, oseq: lease.oseq };
    LeaseDeployment {
        lease,
        group,
        reservation: Reservation { order, replicas, persistent: vec![], unit_gpus: vec![], allocated: true },
        host_ports,
    }
}

/// An SDL with one python service per `(name, script, expose)`; `expose` is raw YAML.
fn sdl(services: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("version: \"2.0\"\nservices:\n");
    for (name, script, expose) in services {
        let script = script.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        s.push_str(&format!(
            "  {name}:\n    image: python:3\n    command: [\"python3\", \"-c\", \"{script}\"]\n    expose:\n{expose}\n"
        ));
    }
    s.push_str("profiles:\n  compute:\n");
    for (name, _, _) in services {
        s.push_str(&format!(
            "    {name}:\n      resources:\n        cpu: {{ units: 0.1 }}\n        memory: {{ size: 64Mi }}\n        storage: {{ size: 64Mi }}\n"
        ));
    }
    s.push_str("  placement:\n    dc:\n      pricing:\n");
    for (name, _, _) in services {
        s.push_str(&format!("        {name}: {{ denom: uact, amount: 10 }}\n"));
    }
    s.push_str("deployment:\n");
    for (name, _, _) in services {
        s.push_str(&format!("  {name}:\n    dc:\n      profile: {name}\n      count: 1\n"));
    }
    s
}

/// The line after `marker` in the lease's logs.
fn report(rt: &HostRuntime, lease: &LeaseId, marker: &str) -> serde_json::Value {
    wait_for(&format!("{marker} in the logs"), Duration::from_secs(30), || {
        let (lines, _) = rt.logs(lease, None, 1000);
        lines.iter().find_map(|l| l.line.strip_prefix(marker).and_then(|j| serde_json::from_str(j.trim()).ok()))
    })
}

fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// A Unix socket server standing for a host socket (Docker's, dbus): counts connections.
fn host_socket(path: &Path) -> Arc<AtomicUsize> {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = UnixListener::bind(path).expect("bind host socket");
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    hits
}

const SERVE: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print('HIT', flush=True)
        self.send_response(200); self.end_headers(); self.wfile.write(NAME.encode())
    def log_message(self, *a): pass
http.server.HTTPServer(('0.0.0.0', PORT), H).serve_forever()
"#;

fn server(name: &str, port: u16) -> String {
    SERVE.replace("NAME", &format!("{name:?}")).replace("PORT", &port.to_string())
}

#[test]
fn a_tenant_cannot_redirect_its_relay_to_a_host_socket_or_another_lease() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let rt = runtime(&data, vec![]);
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let _enter = tokio.enter();

    // The victim: another tenant's lease with a port it never published (only its sibling may
    // reach it).
    let victim = lease(2);
    let victim_sdl = sdl(&[
        ("vault", &server("VAULT", 9999), "      - port: 9999\n        to:\n          - service: peer"),
        (
            "peer",
            "import time\ntime.sleep(600)",
            "      - port: 7000\n        to:\n          - service: vault\n      - port: 80\n        to:\n          - global: true",
        ),
    ]);
    let vd = deployment(victim.clone(), &victim_sdl, 41000);
    rt.deploy(&vd).expect("deploy the victim");
    let victim_socket = rt.socket_path(&victim, "vault-0", 9999);
    let docker = tmp.path().join("docker.sock");
    let docker_hits = host_socket(&docker);

    // The attacker: replaces every socket and socket directory it can find with links to the
    // host socket and to the victim's (absolute and relative), then serves its own port.
    let attacker = lease(3);
    let attack = format!(
        r#"
import os, json
targets = [{docker:?}, {victim:?}, os.path.relpath({victim:?}, '/stratus')]
found, swapped, errors = [], [], []
for top in ['/stratus', '/tmp', '/var/tmp', '/dev/shm', '/run', '/var/run']:
    for root, dirs, files in os.walk(top):
        for f in files + dirs:
            p = os.path.join(root, f)
            found.append(p)
            for t in targets:
                try:
                    if os.path.isdir(p) and not os.path.islink(p): os.rename(p, p + '.old')
                    else: os.unlink(p)
                    os.symlink(t, p); swapped.append(p)
                except Exception as e: errors.append(type(e).__name__)
for t in targets[:2]:
    for d in ['/stratus', '/stratus/sock', '/stratus/peers']:
        try:
            os.makedirs(d, exist_ok=True); os.symlink(t, os.path.join(d, '8080.sock')); swapped.append(d)
        except Exception as e: errors.append(type(e).__name__)
print('ATTACK', json.dumps({{'found': found, 'swapped': swapped, 'see_victim': os.path.exists({victim:?}), 'see_host_socket': os.path.exists({docker:?})}}), flush=True)
{serve}
"#,
        docker = docker.display().to_string(),
        victim = victim_socket.display().to_string(),
        serve = server("ATTACKER", 8080),
    );
    let ad = deployment(
        attacker.clone(),
        &sdl(&[("web", &attack, "      - port: 8080\n        as: 80\n        to:\n          - global: true")]),
        41100,
    );
    rt.deploy(&ad).expect("deploy the attacker");
    let outcome = report(&rt, &attacker, "ATTACK");
    assert_eq!(outcome["see_victim"], false, "the victim's socket is visible: {outcome}");
    assert_eq!(outcome["see_host_socket"], false, "the host socket is visible: {outcome}");
    let public = ad.host_ports["web:8080"];
    for _ in 0..20 {
        let answer = wait_for("the attacker's port", Duration::from_secs(20), || http_get(public));
        assert!(answer.ends_with("ATTACKER"), "the public port reached something else: {answer}");
    }
    assert_eq!(docker_hits.load(Ordering::SeqCst), 0, "the forwarder reached the host socket");
    let (victim_logs, _) = rt.logs(&victim, Some("vault"), 1000);
    assert!(!victim_logs.iter().any(|l| l.line == "HIT"), "the attacker reached the victim's unpublished port");
    // The path the forwarder connects to is the provider's alone, from / down.
    let socket = rt.socket_path(&attacker, "web-0", 8080);
    for dir in socket.ancestors().skip(1).take_while(|d| d.starts_with(&data)) {
        let meta = std::fs::metadata(dir).expect("stat");
        use std::os::unix::fs::MetadataExt;
        assert!(meta.uid() == 0 && meta.mode() & 0o022 == 0, "{} is writable by others", dir.display());
    }
    rt.teardown(&attacker).expect("teardown");
    rt.teardown(&victim).expect("teardown");
}

#[test]
fn a_workload_sees_no_secret_runs_unprivileged_and_gets_no_host_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A provider home under a mounted host directory, reached through a symlink and through a
    // relative path: both must be hidden. `/usr/local` stands for any such place.
    let real_home = PathBuf::from(format!("/usr/local/share/stratus-isolation-{}", std::process::id()));
    std::fs::create_dir_all(real_home.join("keyring")).expect("home");
    let _cleanup = RemoveOnDrop(real_home.clone());
    let keyring = real_home.join("keyring/prov.json");
    std::fs::write(&keyring, "{\"mnemonic\":\"abandon abandon\"}").expect("keyring");
    let link = tmp.path().join("home-link");
    std::os::unix::fs::symlink(&real_home, &link).expect("link");
    let relative = pathdiff(&real_home.join("keyring"), &std::env::current_dir().expect("cwd"));
    let data = tmp.path().join("data");
    let rt = runtime(&data, vec![link.clone(), relative]);
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let _enter = tokio.enter();

    // A neighbour with data in its persistent volume, and a TLS key in the provider's data.
    let tls_key = data.join("tls/key.pem");
    std::fs::create_dir_all(tls_key.parent().expect("dir")).expect("tls dir");
    std::fs::write(&tls_key, "PRIVATE KEY").expect("key");
    let neighbour = lease(4);
    let nd = deployment(
        neighbour.clone(),
        &sdl(&[(
            "n",
            "import time\nopen('/tmp/x','w').write('x')\ntime.sleep(600)",
            "      - port: 80\n        to:\n          - global: true",
        )]),
        41200,
    );
    rt.deploy(&nd).expect("deploy neighbour");
    let neighbour_dir = rt.lease_dir_of(&neighbour);

    let probe = format!(
        r#"
import os, json
def readable(p):
    try:
        open(p, 'rb').read(1); return True
    except Exception:
        return False
def listable(p):
    try:
        return len(os.listdir(p)) > 0
    except Exception:
        return False
paths = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', {keyring:?}, {tls:?}, {neighbour:?} + '/uid', '/root/.bashrc', '/proc/1/environ']
print('PROBE', json.dumps({{
    'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), 'groups': os.getgroups(),
    'readable': [p for p in paths if readable(p)],
    'listable': [p for p in ['/var/log', '/home', {home:?}, {neighbour:?}, {data:?}] if listable(p)],
    'env': sorted(os.environ.keys()),
    'certs': listable('/etc/ssl/certs'),
    'pid': os.getpid(),
}}), flush=True)
import time
time.sleep(600)
"#,
        keyring = keyring.display().to_string(),
        tls = tls_key.display().to_string(),
        neighbour = neighbour_dir.display().to_string(),
        home = real_home.display().to_string(),
        data = data.display().to_string(),
    );
    let me = lease(5);
    let d = deployment(
        me.clone(),
        &sdl(&[("probe", &probe, "      - port: 80\n        to:\n          - global: true")]),
        41300,
    );
    rt.deploy(&d).expect("deploy");
    let r = report(&rt, &me, "PROBE");
    assert_eq!(r["readable"], serde_json::json!([]), "secrets readable: {r}");
    assert_eq!(r["listable"], serde_json::json!([]), "host directories listable: {r}");
    // What is allowed stays usable by the unprivileged workload (TLS needs the CA certificates).
    let host_certs = std::fs::read_dir("/etc/ssl/certs").is_ok_and(|mut d| d.next().is_some());
    assert_eq!(r["certs"], host_certs, "/etc/ssl/certs readable inside as on the host: {r}");
    let uid = r["uid"].as_u64().expect("uid");
    assert!(uid != 0 && r["euid"] == uid && r["gid"] == uid, "runs as root inside: {r}");
    assert_eq!(r["groups"], serde_json::json!([]), "supplementary groups kept: {r}");
    let env: Vec<String> = serde_json::from_value(r["env"].clone()).expect("env");
    for k in &env {
        assert!(
            ["PATH", "LANG", "HOME", "PWD"].contains(&k.as_str()) || k.starts_with("AKASH_"),
            "a host variable leaked into the workload: {k} (all: {env:?})"
        );
    }
    // Outside, the same process runs as the lease's own uid, not root and not the neighbour's.
    let outside = wait_for("the workload's host process", Duration::from_secs(10), || {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd);
            (cmd.contains("PROBE") && cmd.starts_with("python3")).then(|| {
                let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .map(|u| u.split_whitespace().map(String::from).collect::<Vec<_>>())
            })?
        })
    });
    assert!(outside.iter().all(|u| u == &uid.to_string()), "inside uid {uid}, outside {outside:?}");
    let neighbour_uid = rt.lease_uid(&neighbour).expect("uid").expect("root provider");
    assert_ne!(neighbour_uid as u64, uid, "two leases share a uid");
    rt.teardown(&me).expect("teardown");
    rt.teardown(&neighbour).expect("teardown");
}

#[test]
fn services_reach_each_other_only_where_expose_to_allows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime(&tmp.path().join("data"), vec![]);
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let _enter = tokio.enter();
    // db serves 5432 to web, and 6000 to nobody; web tries both, by name and by socket.
    let db = "import threading, socketserver\nclass H(socketserver.BaseRequestHandler):\n    def handle(self): self.request.sendall(b'db' + str(self.server.server_address[1]).encode())\nfor p in (5432, 6000):\n    s = socketserver.ThreadingTCPServer(('0.0.0.0', p), H)\n    threading.Thread(target=s.serve_forever).start()\n";
    let web = r#"
import socket, json, os, time
def talk(host, port):
    for _ in range(100):
        try:
            c = socket.create_connection((host, port), timeout=2); d = c.recv(16).decode(); c.close()
            if d: return d
        except Exception: pass
        time.sleep(0.1)
    return None
socks = []
for root, dirs, files in os.walk('/stratus/peers'):
    socks += [os.path.join(root, f) for f in files]
print('PEERS', json.dumps({'5432': talk('db', 5432), '6000': talk('db', 6000), 'sockets': socks}), flush=True)
time.sleep(600)
"#;
    let l = lease(6);
    let text = sdl(&[
        ("db", db, "      - port: 5432\n        to:\n          - service: web\n      - port: 6000"),
        ("web", web, "      - port: 80\n        to:\n          - global: true"),
    ]);
    rt.deploy(&deployment(l.clone(), &text, 41400)).expect("deploy");
    let r = report(&rt, &l, "PEERS");
    assert_eq!(r["5432"], "db5432", "the allowed port: {r}");
    assert!(r["6000"].is_null(), "a port not exposed to web was reached: {r}");
    assert_eq!(r["sockets"], serde_json::json!(["/stratus/peers/db/5432/sock"]), "{r}");
    rt.teardown(&l).expect("teardown");
}

#[test]
fn a_crash_loop_is_never_running_and_fails_with_its_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = runtime(&tmp.path().join("data"), vec![]);
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let _enter = tokio.enter();
    let l = lease(7);
    let crash = "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)";
    let d = deployment(
        l.clone(),
        &sdl(&[("web", crash, "      - port: 80\n        to:\n          - global: true")]),
        41500,
    );
    rt.deploy(&d).expect("deploy");
    let start = Instant::now();
    let mut seen = Vec::new();
    let failed = wait_for("the replica failed", Duration::from_secs(60), || {
        let r = rt.status(&d)[0].replicas[0].clone();
        assert_ne!(r.state, ReplicaState::Running, "a crash-looping replica was reported running");
        if !seen.contains(&r.state) {
            seen.push(r.state);
        }
        (r.state == ReplicaState::Failed).then_some(r)
    });
    let message = failed.message.unwrap_or_default();
    assert!(message.starts_with("crash loop: 3 exits in a row") && message.contains("boom"), "{message}");
    assert!(seen.contains(&ReplicaState::Restarting), "restarts are shown: {seen:?}");
    assert!(start.elapsed() < Duration::from_secs(20), "failing took {:?}", start.elapsed());
    // Failed stays failed: nothing restarts it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rt.status(&d)[0].replicas[0].restarts, failed.restarts);
    rt.teardown(&l).expect("teardown");
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `path` relative to `base` (both absolute): `../..` up to their common part, then down.
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}
