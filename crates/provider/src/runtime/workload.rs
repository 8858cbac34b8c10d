//! The processes of the host runtime, run from the `stratus` binary itself (hidden subcommands):
//!
//! - the **supervisor** (`stratus workload supervise DIR`), one per replica, in its own process
//!   group so it outlives provider restarts: starts the sandbox, writes its output to rotating
//!   logs, restarts it with back-off when it exits, and records state in `status.json`;
//! - the sandbox's **init** (`stratus workload init SPEC`), PID 1 inside the sandbox: relays the
//!   replica's ports to Unix sockets the provider reaches, makes the group's other services
//!   reachable by name, and runs the workload;
//! - **http-echo** (`stratus workload http-echo -listen=:5678 -text=hi`), a built-in stand-in for
//!   `hashicorp/http-echo` so the examples run without images.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stratus_types::gateway::{LeaseEvent, ReplicaState};

use crate::pure::restart::{AfterExit, CRASH_WINDOW, after_exit};
use crate::runtime::logs::LogWriter;

pub use stratus_client::now_ms;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub cpu_millis: u64,
    pub memory: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorSpec {
    /// `<service>-<replica>`.
    pub name: String,
    pub argv: Vec<String>,
    pub log_max_bytes: u64,
    pub log_files: u32,
    /// The lease's event file.
    pub events: PathBuf,
    pub limits: Limits,
    /// A writable cgroup v2 directory to create the replica's cgroup in, if there is one.
    pub cgroup_parent: Option<PathBuf>,
    /// Listening sockets to bind, in the order they are passed to the sandbox (fd 3, 4, …). They
    /// live in a directory no sandbox can write, so nobody can swap one for a link.
    pub listen: Vec<PathBuf>,
    /// The unprivileged uid the sandbox runs as (owner of its sockets); `None` when the
    /// provider is not root and the sandbox keeps the provider's uid.
    pub run_as: Option<u32>,
    /// Exits in a row, each soon after starting, before the replica is failed for good.
    pub max_restarts: u32,
    /// What the init prints on stderr once every port accepts connections.
    pub ready_nonce: String,
    /// Ports the replica serves (none: it counts as running once it has stayed up a moment).
    pub ports: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    /// Loopback address the peer's name resolves to inside the sandbox.
    pub ip: String,
    /// The peer's ports this service may reach (the SDL's `expose.to`), and nothing else.
    pub ports: Vec<u16>,
    /// Where the peer's sockets are mounted inside the sandbox, read-only: `<dir>/<port>/sock`.
    pub sock_dir: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSpec {
    pub command: Vec<String>,
    /// Ports the workload listens on, in the order of the listening sockets passed in (fd 3, …).
    pub ports: Vec<u16>,
    pub peers: Vec<Peer>,
    /// The uid (and gid) to drop to before anything else, when started as root.
    pub run_as: Option<u32>,
    pub ready_nonce: String,
    /// The sandbox shares the host's network: the workload takes its listening sockets itself
    /// (`LISTEN_FDS`) rather than through relays to its own loopback, which is the host's here.
    #[serde(default)]
    pub host_network: bool,
}

/// `status.json`: what the supervisor last saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    pub state: ReplicaState,
    pub pid: Option<u32>,
    pub restarts: u32,
    pub message: Option<String>,
    pub since_ms: u64,
}

/// The events appended to `path` since byte `offset` (complete lines only), moving it on.
pub fn read_events_since(path: &Path, offset: &mut usize) -> Vec<LeaseEvent> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let from = (*offset).min(text.len());
    let complete = text[from..].rfind('\n').map_or(from, |i| from + i + 1);
    *offset = complete;
    text[from..complete].lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub fn append_event(path: &Path, kind: &str, message: String) {
    let event = LeaseEvent { time_ms: now_ms(), kind: kind.into(), message };
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path)
        && let Ok(line) = serde_json::to_string(&event)
    {
        let _ = writeln!(f, "{line}");
    }
}

fn write_status(dir: &Path, s: &StatusFile) {
    let tmp = dir.join("status.json.tmp");
    if let Ok(text) = serde_json::to_vec(s)
        && fs::write(&tmp, text).is_ok()
    {
        let _ = fs::rename(&tmp, dir.join("status.json"));
    }
}

pub fn read_status(dir: &Path) -> Option<StatusFile> {
    serde_json::from_slice(&fs::read(dir.join("status.json")).ok()?).ok()
}

fn cgroup_for(spec: &SupervisorSpec) -> Option<PathBuf> {
    let parent = spec.cgroup_parent.as_ref()?;
    let dir = parent.join(format!("stratus-{}-{}", std::process::id(), spec.name));
    fs::create_dir_all(&dir).ok()?;
    let _ = fs::write(dir.join("memory.max"), spec.limits.memory.to_string());
    // cpu.max: quota per 100 ms period.
    let _ = fs::write(dir.join("cpu.max"), format!("{} 100000", (spec.limits.cpu_millis * 100).max(1000)));
    Some(dir)
}

/// A replica without ports counts as running once it has stayed up this long.
pub const STABLE_AFTER: Duration = Duration::from_secs(2);

fn bind_listeners(spec: &SupervisorSpec) -> anyhow::Result<Vec<UnixListener>> {
    use std::os::unix::fs::PermissionsExt;
    spec.listen
        .iter()
        .map(|path| {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let _ = fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|e| anyhow::anyhow!("binding {}: {e}", path.display()))?;
            // Only the lease's own processes (its peers) and the provider may connect.
            fs::set_permissions(path, fs::Permissions::from_mode(0o660))?;
            if let Some(uid) = spec.run_as {
                std::os::unix::fs::chown(path, Some(uid), Some(uid))?;
            }
            Ok(l)
        })
        .collect()
}

fn status(dir: &Path, state: ReplicaState, pid: Option<u32>, restarts: u32, message: Option<String>) {
    write_status(dir, &StatusFile { state, pid, restarts, message, since_ms: now_ms() });
}

/// Runs until killed: start, log, wait, back off, restart — or, once the policy says the
/// replica cannot run, record why and stay (failed, nothing restarted) until torn down.
pub fn supervise(dir: &Path) -> anyhow::Result<()> {
    use command_fds::{CommandFdExt, FdMapping};
    let spec: SupervisorSpec = serde_json::from_slice(&fs::read(dir.join("supervisor.json"))?)?;
    fs::write(dir.join("supervisor.pid"), std::process::id().to_string())?;
    let log = Arc::new(Mutex::new(LogWriter::open(dir, spec.log_max_bytes, spec.log_files)?));
    let cgroup = cgroup_for(&spec);
    let listeners = bind_listeners(&spec)?;
    let mut restarts = 0u32;
    let mut crashes = 0u32;
    let mut last_reason: Option<String> = None;
    let failure = loop {
        let started = Instant::now();
        let mut cmd = Command::new(&spec.argv[0]);
        cmd.args(&spec.argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut mappings = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            mappings.push(FdMapping { parent_fd: std::os::fd::OwnedFd::from(l.try_clone()?), child_fd: 3 + i as i32 });
        }
        cmd.fd_mappings(mappings).map_err(|e| anyhow::anyhow!("passing the listening sockets: {e}"))?;
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let fix = if e.kind() == std::io::ErrorKind::NotFound && spec.argv[0].ends_with("bwrap") {
                    "; install bubblewrap (apt-get install bubblewrap)"
                } else {
                    ""
                };
                break format!("the sandbox cannot start ({}): {e}{fix}", spec.argv[0]);
            }
        };
        if let Some(cg) = &cgroup {
            let _ = fs::write(cg.join("cgroup.procs"), child.id().to_string());
        }
        let state = if restarts == 0 { ReplicaState::Starting } else { ReplicaState::Restarting };
        status(dir, state, Some(child.id()), restarts, last_reason.clone());
        append_event(&spec.events, "replica_started", format!("{} started (pid {})", spec.name, child.id()));
        let last_err = Arc::new(Mutex::new(String::new()));
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pumps: Vec<_> = [
            ("stdout", child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>)),
            ("stderr", child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>)),
        ]
        .into_iter()
        .filter_map(|(stream, pipe)| pipe.map(|p| (stream, p)))
        .map(|(stream, pipe)| {
            let (log, last_err, ready) = (Arc::clone(&log), Arc::clone(&last_err), Arc::clone(&ready));
            let marker = format!("{} ready", spec.ready_nonce);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if stream == "stderr" && line == marker {
                        ready.store(true, std::sync::atomic::Ordering::SeqCst);
                        continue;
                    }
                    if stream == "stderr" && !line.trim().is_empty() {
                        *last_err.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = line.clone();
                    }
                    let _ = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).line(now_ms(), stream, &line);
                }
            })
        })
        .collect();
        // Running means serving: every port accepts connections (the init says so), or, for a
        // replica without ports, it has stayed up a moment. A crash loop is never "running".
        let mut announced = false;
        let exit = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            let up = if spec.ports.is_empty() {
                started.elapsed() >= STABLE_AFTER
            } else {
                ready.load(std::sync::atomic::Ordering::SeqCst)
            };
            if up && !announced {
                announced = true;
                status(dir, ReplicaState::Running, Some(child.id()), restarts, None);
                append_event(&spec.events, "replica_running", format!("{} is running", spec.name));
            }
            thread::sleep(Duration::from_millis(100));
        };
        for p in pumps {
            let _ = p.join();
        }
        restarts += 1;
        if started.elapsed() >= CRASH_WINDOW {
            crashes = 0;
        }
        crashes += 1;
        let code = exit.as_ref().ok().and_then(std::process::ExitStatus::code);
        let how = exit.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        let last = last_err.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let sandbox_error = last.starts_with("bwrap:");
        let reason = if last.is_empty() { format!("exited ({how})") } else { format!("exited ({how}): {last}") };
        match after_exit(crashes, spec.max_restarts, code, &reason, sandbox_error) {
            AfterExit::Fail(why) => break why,
            AfterExit::Restart { backoff } => {
                status(dir, ReplicaState::Restarting, None, restarts, Some(reason.clone()));
                append_event(
                    &spec.events,
                    "replica_exited",
                    format!("{} {reason}; restart {restarts} in {:.1} s", spec.name, backoff.as_secs_f64()),
                );
                last_reason = Some(reason);
                thread::sleep(backoff);
            }
        }
    };
    status(dir, ReplicaState::Failed, None, restarts, Some(failure.clone()));
    append_event(&spec.events, "replica_failed", format!("{}: {failure}", spec.name));
    // Failed for good: nothing restarts it; the provider closes the lease and tears it down.
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Copies both ways; when one side finishes sending, the other side is told (half-close), so
/// a server closing its connection is seen by the client.
fn relay_tcp_unix(tcp: TcpStream, unix: UnixStream) {
    let (Ok(mut tcp_r), Ok(mut unix_r)) = (tcp.try_clone(), unix.try_clone()) else { return };
    let (mut tcp_w, mut unix_w) = (tcp, unix);
    thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(std::net::Shutdown::Write);
    });
    thread::spawn(move || {
        let _ = std::io::copy(&mut unix_r, &mut tcp_w);
        let _ = tcp_w.shutdown(std::net::Shutdown::Write);
    });
}

/// Connects to the workload's port, waiting a little for it to start listening.
fn connect_local(port: u16) -> Option<TcpStream> {
    for _ in 0..50 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            return Some(s);
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Drops to `uid` for good: supplementary groups, then gid, then uid; and checks that root
/// cannot be regained.
fn drop_privileges(uid: u32) -> anyhow::Result<()> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    setgroups(&[]).map_err(|e| anyhow::anyhow!("setgroups: {e}"))?;
    setgid(Gid::from_raw(uid)).map_err(|e| anyhow::anyhow!("setgid {uid}: {e}"))?;
    setuid(Uid::from_raw(uid)).map_err(|e| anyhow::anyhow!("setuid {uid}: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() || Uid::effective().is_root() {
        anyhow::bail!("still root after dropping to uid {uid}");
    }
    Ok(())
}

/// PID 1 of the sandbox.
pub fn init(spec_path: &Path) -> anyhow::Result<i32> {
    let spec: InitSpec = serde_json::from_slice(&fs::read(spec_path)?)?;
    // First: never run anything as root. A root-run sandbox has no user namespace, so root here
    // is root on the host.
    if nix::unistd::Uid::effective().is_root() {
        drop_privileges(spec.run_as.unwrap_or(crate::runtime::sandbox::NOBODY))?;
    }
    // A host-network replica inherits its listening sockets (fd 3, … and `LISTEN_FDS`) and
    // accepts on them itself; it has no relays and no peers (its loopback is the host's).
    if !spec.host_network {
        relay_ports_and_peers(&spec)?;
    }
    let Some((program, args)) = spec.command.split_first() else {
        eprintln!("stratus: the service has no command to run");
        return Ok(126);
    };
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stratus: cannot run {program}: {e}");
            return Ok(127);
        }
    };
    if spec.host_network {
        // Serving once it runs: connecting to its ports here would reach the host's, not its own.
        eprintln!("{} ready", spec.ready_nonce);
    } else if !spec.ports.is_empty() {
        let (ports, nonce) = (spec.ports.clone(), spec.ready_nonce.clone());
        thread::spawn(move || {
            while !ports.iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok()) {
                thread::sleep(Duration::from_millis(100));
            }
            eprintln!("{nonce} ready");
        });
    }
    let status = child.wait()?;
    Ok(status.code().unwrap_or(128))
}

/// Relays each passed listening socket to the workload's TCP port on its own loopback, and binds
/// the group's peers' addresses inside the sandbox.
fn relay_ports_and_peers(spec: &InitSpec) -> anyhow::Result<()> {
    // The listening sockets the supervisor owns (fd 3, …); `LISTEN_FDS` leaves the environment.
    let mut passed = listenfd::ListenFd::from_env();
    for (i, &port) in spec.ports.iter().enumerate() {
        let listener = passed
            .take_unix_listener(i)?
            .ok_or_else(|| anyhow::anyhow!("no listening socket was passed for port {port}"))?;
        thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                thread::spawn(move || {
                    if let Some(tcp) = connect_local(port) {
                        relay_tcp_unix(tcp, conn);
                    }
                });
            }
        });
    }
    for peer in &spec.peers {
        for &port in &peer.ports {
            let Ok(listener) = TcpListener::bind((peer.ip.as_str(), port)) else {
                eprintln!("stratus: cannot make {}:{port} reachable (address in use)", peer.name);
                continue;
            };
            let sock = Path::new(&peer.sock_dir).join(port.to_string()).join("sock");
            thread::spawn(move || {
                for conn in listener.incoming().map_while(Result::ok) {
                    let sock = sock.clone();
                    thread::spawn(move || {
                        if let Ok(unix) = UnixStream::connect(&sock) {
                            relay_tcp_unix(conn, unix);
                        }
                    });
                }
            });
        }
    }
    Ok(())
}

/// `hashicorp/http-echo`'s flags: `-listen=:5678`, `-text=...`, `-status-code=200`.
pub fn http_echo(args: &[String]) -> anyhow::Result<()> {
    let mut listen = ":5678".to_string();
    let mut text = "hello-world".to_string();
    let mut status = 200u16;
    for a in args {
        let a = a.trim_start_matches('-');
        if let Some(v) = a.strip_prefix("listen=") {
            listen = v.to_string();
        } else if let Some(v) = a.strip_prefix("text=") {
            text = v.to_string();
        } else if let Some(v) = a.strip_prefix("status-code=") {
            status = v.parse().unwrap_or(200);
        }
    }
    let addr = if listen.starts_with(':') { format!("0.0.0.0{listen}") } else { listen.clone() };
    let listener = TcpListener::bind(&addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    println!("http-echo listening on {addr}");
    let _ = std::io::stdout().flush();
    let body = format!("{text}\n");
    for conn in listener.incoming().map_while(Result::ok) {
        let body = body.clone();
        thread::spawn(move || {
            let mut conn = conn;
            let mut reader = BufReader::new(match conn.try_clone() {
                Ok(c) => c,
                Err(_) => return,
            });
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                return;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            println!("{} {}", now_ms(), request.trim());
            let _ = std::io::stdout().flush();
            let reply = format!(
                "HTTP/1.1 {status} OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        });
    }
    Ok(())
}
