//! The container backend against a real engine: podman's Docker-compatible service on a socket
//! of the test's own, an image built at test time with `podman import` from busybox (no
//! registry is reachable here). Needs podman, runc and busybox-static (`.ci/run` installs them).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stratus_provider::runtime::container::{ContainerRuntime, ContainerSettings};
use stratus_provider::runtime::{LeaseDeployment, Runtime};
use stratus_types::gateway::ReplicaState;
use stratus_types::market::LeaseId;

use crate::isolation::{address, deployment};
use crate::provider::{http_get, wait_for};

pub const IMAGE: &str = "localhost/stratus-test/busybox:1";

/// A free host port for a container's published port, from 10000–11999: the engine's NAT rule
/// for a published port can outlive its container (seen with netavark), and would then steal the
/// port from whatever binds it next — so these ports are kept clear of every devnet's block
/// (12000 up), of SeaweedFS (61000 up) and of the kernel's ephemeral range that nodes and
/// gateways bind from. Successive calls in one run walk the range instead of reusing a port.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let start = std::process::id() % 2000;
    for _ in 0..2000 {
        let k = (start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) % 2000;
        let port = 10_000 + k as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 10000 and 11999 for a container's published port")
}

/// The engine tests take turns: network isolation is briefly down while a network is removed
/// (until the runtime reloads the firewall rules), which another test's probe must not meet.
pub static ENGINE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn engine_turn() -> std::sync::MutexGuard<'static, ()> {
    ENGINE_TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `podman system service` on a socket in `dir`, stopped when dropped.
struct Engine {
    child: Child,
    socket: String,
}

impl Engine {
    fn start(dir: &Path) -> Engine {
        let path = dir.join("podman.sock");
        let socket = format!("unix://{}", path.display());
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &socket])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman is installed (apt-get install podman runc; .ci/run does)");
        wait_for("the podman socket", Duration::from_secs(30), || path.exists().then_some(()));
        Engine { child, socket }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().expect("podman");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An image with busybox's shell and httpd, imported from a root filesystem made here.
pub fn build_image(dir: &Path) {
    build_image_as(dir, IMAGE, r#"CMD ["/bin/sh"]"#);
}

/// The same root filesystem as `tag`, with the image default `change` (a Dockerfile line).
pub fn build_image_as(dir: &Path, tag: &str, change: &str) {
    let dir = &dir.join(tag.replace(['/', ':'], "_"));
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::create_dir_all(root.join("www")).expect("mkdir");
    std::fs::create_dir_all(root.join("tmp")).expect("mkdir");
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    for applet in ["sh", "httpd", "cat", "echo", "sleep", "mkdir", "env"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    std::fs::write(root.join("www/index.html"), "hello from a container\n").expect("write");
    let tar = dir.join("rootfs.tar");
    let ok = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("tar");
    assert!(ok.success());
    let out =
        Command::new("podman").args(["import", "--change", change]).arg(&tar).arg(tag).output().expect("podman import");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn runtime(data: &Path, engine: &Engine) -> ContainerRuntime {
    runtime_of(data, engine, 9)
}

/// A runtime for the provider `address(seed)`: tests that share the engine use different ones.
fn runtime_of(data: &Path, engine: &Engine, seed: u8) -> ContainerRuntime {
    ContainerRuntime::connect(ContainerSettings {
        data_dir: data.join("container"),
        engine_socket: Some(engine.socket.clone()),
        listen_host: "127.0.0.1".into(),
        public_host: "127.0.0.1".into(),
        max_restarts: 3,
        provider: address(seed).to_string(),
    })
    .expect("the engine answers")
}

pub fn sdl(image: &str, note: &str) -> String {
    format!(
        r#"version: "2.0"
services:
  web:
    image: {image}
    command: ["/bin/sh", "-c"]
    args: ["echo started with NOTE=$NOTE; cat /data/note 2>/dev/null; exec httpd -f -p 8080 -h /www"]
    env: ["NOTE={note}"]
    expose:
      - port: 8080
        as: 80
        to: [{{global: true}}]
    params:
      storage:
        data: {{mount: /data}}
profiles:
  compute:
    web:
      resources:
        cpu: {{units: 0.5}}
        memory: {{size: 128Mi}}
        storage:
          - size: 256Mi
          - name: data
            size: 256Mi
            attributes: {{persistent: true, class: beta3}}
  placement:
    dc:
      pricing:
        web: {{denom: uact, amount: 100}}
deployment:
  web:
    dc: {{profile: web, count: 1}}
"#
    )
}

fn lease(dseq: u64) -> LeaseId {
    lease_of(dseq, 9)
}

/// A lease of this test process: objects an earlier, failed run left on the shared engine have
/// other names and labels.
fn lease_of(dseq: u64, provider: u8) -> LeaseId {
    let dseq = u64::from(std::process::id()) * 10_000 + dseq;
    LeaseId { owner: address(1), dseq, gseq: 1, oseq: 1, provider: address(provider) }
}

fn state(rt: &ContainerRuntime, d: &LeaseDeployment) -> (ReplicaState, Option<String>) {
    let s = rt.status(d);
    let r = &s[0].replicas[0];
    (r.state, r.message.clone())
}

fn labelled(kind: &str, lease: &LeaseId) -> String {
    let filter = format!("label=io.stratus.lease={}", stratus_provider::runtime::lease_key(lease));
    match kind {
        "container" => podman(&["ps", "-a", "-q", "--filter", &filter]),
        "volume" => podman(&["volume", "ls", "-q", "--filter", &filter]),
        _ => podman(&["network", "ls", "-q", "--filter", &filter]),
    }
}

#[test]
fn containers_run_survive_a_provider_restart_keep_volumes_across_updates_and_leave_nothing() {
    let _turn = engine_turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(dir.path());
    build_image(dir.path());
    let l = lease(4242);
    let port = free_port();
    let d = deployment(l.clone(), &sdl(IMAGE, "first"), port);
    let rt = runtime(dir.path(), &engine);

    // Lease → container running → HTTP through the published port.
    let started = Instant::now();
    rt.deploy(&d).expect("deploy");
    wait_for("the replica running", Duration::from_secs(60), || {
        (state(&rt, &d).0 == ReplicaState::Running).then_some(())
    });
    let body = wait_for("HTTP through the published port", Duration::from_secs(30), || http_get(port));
    eprintln!("container backend: deploy to answering HTTP in {:.2} s", started.elapsed().as_secs_f64());
    assert!(body.contains("hello from a container"), "{body}");
    let logs = wait_for("the start line in the logs", Duration::from_secs(20), || {
        let (lines, _) = rt.logs(&l, None, 50);
        lines.iter().any(|x| x.line.contains("started with NOTE=first")).then_some(lines)
    });
    assert!(logs.iter().all(|x| x.service == "web"));
    let name = format!("stratus-{}-web-0", stratus_provider::runtime::lease_key(&l));
    let out = Command::new("podman").args(["exec", &name, "sh", "-c", "echo kept > /data/note"]).status();
    assert!(out.is_ok_and(|s| s.success()), "writing into the persistent volume");
    let id = podman(&["inspect", "-f", "{{.Id}}", &name]);
    let started_at = podman(&["inspect", "-f", "{{.State.StartedAt}}", &name]);

    // The provider restarts: a new runtime finds the container by its labels, running, the same
    // version; deploying again changes nothing.
    drop(rt);
    let rt = runtime(dir.path(), &engine);
    let observed = rt.observe();
    assert_eq!(observed[&l].version, d.version());
    assert!(observed[&l].replicas.iter().all(|r| r.state == ReplicaState::Running), "{observed:?}");
    rt.deploy(&d).expect("deploy again");
    assert_eq!(podman(&["inspect", "-f", "{{.Id}}", &name]), id, "the same container");
    assert_eq!(podman(&["inspect", "-f", "{{.State.StartedAt}}", &name]), started_at, "not restarted");

    // A manifest update replaces the container and keeps the volume's data.
    let updated = LeaseDeployment { group: deployment(l.clone(), &sdl(IMAGE, "second"), port).group, ..d.clone() };
    rt.deploy(&updated).expect("update");
    assert_ne!(podman(&["inspect", "-f", "{{.Id}}", &name]), id, "a new container for the new version");
    wait_for("the updated replica", Duration::from_secs(60), || {
        let (lines, _) = rt.logs(&l, Some("web"), 50);
        lines.iter().any(|x| x.line.contains("started with NOTE=second")).then_some(())
    });
    let (lines, _) = rt.logs(&l, Some("web"), 50);
    assert!(lines.iter().any(|x| x.line == "kept"), "the volume kept its data: {lines:?}");

    // An image that is not in the local store and cannot be pulled: failed, with the reason.
    let bad = deployment(lease(4243), &sdl("registry.invalid/nobody/nothing:1", "x"), free_port());
    rt.deploy(&bad).expect("deploy records the failure");
    let (st, why) = state(&rt, &bad);
    assert_eq!(st, ReplicaState::Failed);
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with("image registry.invalid/nobody/nothing:1: not in the local store and the pull failed:"),
        "{why}"
    );

    // Teardown leaves no container, volume or network of either lease.
    for lease in [&l, &bad.lease] {
        rt.teardown(lease).expect("teardown");
        for kind in ["container", "volume", "network"] {
            assert_eq!(labelled(kind, lease), "", "a {kind} of {lease} is left");
        }
    }
    assert!(rt.observe().is_empty());

    // A teardown cut short (here: a volume left behind) is found by its labels on the next look,
    // as a lease with no version, so the plan tears it down again.
    let labels: Vec<String> = stratus_provider::runtime::container::spec::lease_labels(&l)
        .into_iter()
        .flat_map(|(k, v)| ["--label".to_string(), format!("{k}={v}")])
        .collect();
    let mut args = vec!["volume", "create"];
    args.extend(labels.iter().map(String::as_str));
    args.push("stratus-leftover-test");
    podman(&args);
    let observed = rt.observe();
    assert_eq!(observed.get(&l).map(|o| o.version.as_str()), Some(""), "{observed:?}");
    rt.teardown(&l).expect("teardown again");
    assert_eq!(labelled("volume", &l), "");
    // Another provider's objects on the same engine are not this runtime's business.
    let other = ContainerRuntime::connect(ContainerSettings {
        data_dir: dir.path().join("other"),
        engine_socket: Some(engine.socket.clone()),
        listen_host: "127.0.0.1".into(),
        public_host: "127.0.0.1".into(),
        max_restarts: 3,
        provider: address(8).to_string(),
    })
    .expect("engine");
    podman(&args);
    assert!(other.observe().is_empty(), "it sees only objects labelled with its own address");
    rt.teardown(&l).expect("cleanup");
}

/// The tenant-isolation attacks of `isolation.rs`, played against the container backend: what a
/// hostile container can reach. (The relay-socket symlink swap has no counterpart: the engine
/// publishes ports itself, the provider follows no path a container controls.)
#[test]
fn a_hostile_container_reaches_nothing_but_its_own_lease() {
    let _turn = engine_turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(dir.path());
    build_image(dir.path());
    let rt = runtime_of(dir.path(), &engine, 7);
    let secret = dir.path().join("container").join("provider-secret");
    std::fs::write(&secret, "provider key material").expect("write");
    let (victim, attacker) = (lease_of(5001, 7), lease_of(5002, 7));
    let dv = deployment(victim.clone(), &sdl(IMAGE, "victim"), free_port());
    let da = deployment(attacker.clone(), &sdl(IMAGE, "attacker"), free_port());
    rt.deploy(&dv).expect("deploy the victim");
    rt.deploy(&da).expect("deploy the attacker");
    for d in [&dv, &da] {
        wait_for("both running", Duration::from_secs(60), || (state(&rt, d).0 == ReplicaState::Running).then_some(()));
    }
    let name = |l: &LeaseId| format!("stratus-{}-web-0", stratus_provider::runtime::lease_key(l));
    let attack = |script: &str| {
        let out = Command::new("podman").args(["exec", &name(&attacker), "sh", "-c", script]).output().expect("exec");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };

    // Root inside is not root outside: the container's uid 0 is an unprivileged host uid.
    assert_eq!(attack("id -u").trim(), "0");
    let host_uid = podman(&["top", &name(&attacker), "huser"]);
    let host_uid = host_uid.lines().nth(1).unwrap_or_default().trim().to_string();
    assert!(!host_uid.is_empty() && host_uid != "0" && host_uid != "root", "root inside is {host_uid:?} outside");

    // No host files: not the host's /etc/shadow, not the provider's data.
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let seen = attack("cat /etc/shadow; cat /etc/passwd");
    assert!(shadow.lines().next().is_none_or(|l| !seen.contains(l)), "the host's shadow leaked: {seen}");
    let seen = attack(&format!("cat {}", secret.display()));
    assert!(!seen.contains("provider key material"), "{seen}");

    // No other lease: the victim's container is not reachable by address (its own network is
    // isolated), only through its published port, like anyone's — also after a third lease came
    // and went (removing a network once dropped every other network's isolation).
    let passing = lease_of(5003, 7);
    let dp = deployment(passing.clone(), &sdl(IMAGE, "passing"), free_port());
    rt.deploy(&dp).expect("deploy a third lease");
    rt.teardown(&passing).expect("tear it down");
    let victim_ip =
        podman(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &name(&victim)]);
    assert!(!victim_ip.is_empty());
    let reached = attack(&format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {victim_ip} 8080"));
    assert!(!reached.contains("200 OK"), "the attacker reached the victim's container at {victim_ip}: {reached}");
    // The attack itself works where it is allowed: its own container's port.
    let own_ip =
        podman(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &name(&attacker)]);
    let own = attack(&format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {own_ip} 8080"));
    assert!(own.contains("200 OK"), "the probe itself is broken: {own}");
    // The victim's volume is not the attacker's.
    podman(&["exec", &name(&victim), "sh", "-c", "echo victim-data > /data/note"]);
    assert!(!attack("cat /data/note").contains("victim-data"));

    for l in [&victim, &attacker] {
        rt.teardown(l).expect("teardown");
    }
}
