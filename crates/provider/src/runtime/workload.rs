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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stratus_types::gateway::{LeaseEvent, ReplicaState};

use crate::runtime::logs::LogWriter;

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    /// Loopback address the peer's name resolves to inside the sandbox.
    pub ip: String,
    pub ports: Vec<u16>,
    /// Where the peer's sockets are mounted inside the sandbox.
    pub sock_dir: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSpec {
    pub command: Vec<String>,
    /// Ports the workload listens on (relayed from `sock_dir/<port>.sock`).
    pub ports: Vec<u16>,
    pub sock_dir: String,
    pub peers: Vec<Peer>,
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

/// Runs forever (until killed): start, log, wait, back off, restart.
pub fn supervise(dir: &Path) -> anyhow::Result<()> {
    let spec: SupervisorSpec = serde_json::from_slice(&fs::read(dir.join("supervisor.json"))?)?;
    fs::write(dir.join("supervisor.pid"), std::process::id().to_string())?;
    let log = Arc::new(Mutex::new(LogWriter::open(dir, spec.log_max_bytes, spec.log_files)?));
    let cgroup = cgroup_for(&spec);
    let mut restarts = 0u32;
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let child = Command::new(&spec.argv[0])
            .args(&spec.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let message = format!("cannot start the sandbox ({}): {e}", spec.argv[0]);
                write_status(
                    dir,
                    &StatusFile {
                        state: ReplicaState::Restarting,
                        pid: None,
                        restarts,
                        message: Some(message.clone()),
                        since_ms: now_ms(),
                    },
                );
                append_event(&spec.events, "replica_failed", format!("{}: {message}", spec.name));
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if let Some(cg) = &cgroup {
            let _ = fs::write(cg.join("cgroup.procs"), child.id().to_string());
        }
        write_status(
            dir,
            &StatusFile {
                state: ReplicaState::Running,
                pid: Some(child.id()),
                restarts,
                message: None,
                since_ms: now_ms(),
            },
        );
        append_event(&spec.events, "replica_started", format!("{} started (pid {})", spec.name, child.id()));
        let last_err = Arc::new(Mutex::new(String::new()));
        let pumps: Vec<_> = [
            ("stdout", child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>)),
            ("stderr", child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>)),
        ]
        .into_iter()
        .filter_map(|(stream, pipe)| pipe.map(|p| (stream, p)))
        .map(|(stream, pipe)| {
            let (log, last_err) = (Arc::clone(&log), Arc::clone(&last_err));
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if stream == "stderr" && !line.trim().is_empty() {
                        *last_err.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = line.clone();
                    }
                    let _ = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).line(now_ms(), stream, &line);
                }
            })
        })
        .collect();
        let status = child.wait();
        for p in pumps {
            let _ = p.join();
        }
        restarts += 1;
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_secs(1);
        }
        let code = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        let last = last_err.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let message = if last.is_empty() { format!("exited ({code})") } else { format!("exited ({code}): {last}") };
        write_status(
            dir,
            &StatusFile {
                state: ReplicaState::Restarting,
                pid: None,
                restarts,
                message: Some(message.clone()),
                since_ms: now_ms(),
            },
        );
        append_event(
            &spec.events,
            "replica_exited",
            format!("{} {message}; restarting in {} s", spec.name, backoff.as_secs()),
        );
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
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

/// PID 1 of the sandbox.
pub fn init(spec_path: &Path) -> anyhow::Result<i32> {
    let spec: InitSpec = serde_json::from_slice(&fs::read(spec_path)?)?;
    for &port in &spec.ports {
        let sock = Path::new(&spec.sock_dir).join(format!("{port}.sock"));
        let _ = fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock)?;
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
            let sock = Path::new(&peer.sock_dir).join(format!("{port}.sock"));
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
    let status = child.wait()?;
    Ok(status.code().unwrap_or(128))
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
