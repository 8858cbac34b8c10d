//! The host runtime: every replica a supervised bubblewrap sandbox on this machine.
//!
//! Per lease, under `<data>/leases/<key>/`: `volumes/<service>-<i>/<volume>/` (persistent
//! volumes: they survive replica restarts, provider restarts and manifest updates, and are
//! deleted with the lease), `replicas/<service>-<i>/` (supervisor and init specs, `status.json`,
//! rotating logs, scratch space for ephemeral volumes) and `events.jsonl`. Each replica's ports
//! are Unix sockets in a short directory under `<data>/s/`; the provider listens on a host port
//! for every globally exposed port and relays to them (round-robin over replicas).
//!
//! Not enforced here: network egress (sandboxes have no network besides their relayed ports and
//! the group's services), and CPU/memory limits where cgroup v2 is not writable (a warning says
//! so). Images are not pulled: `runtime.images` maps image names to host commands.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use stratus_types::attributes::glob_match;
use stratus_types::gateway::{LeaseEvent, LogLine, ReplicaState, ReplicaStatus, ServiceStatus};
use stratus_types::manifest::{ManifestGroup, Protocol, Service};
use stratus_types::market::LeaseId;

use crate::config::{ImageRule, ReplicaNetwork};
use crate::pure::reconcile::{ObservedLease, ObservedReplica};
use crate::runtime::sandbox::{
    INNER_EXE, RootEntry, SandboxPlan, base_env, bwrap_argv, hidden_paths, host_etc, host_root, mounted_dirs,
    passwd_group,
};
use crate::runtime::workload::{InitSpec, Limits, Peer, StatusFile, SupervisorSpec, append_event, read_status};
use crate::runtime::{LeaseDeployment, LogCursor, Runtime, RuntimeError, lease_key, logs};

pub struct HostSettings {
    pub data_dir: PathBuf,
    /// The `stratus` binary (supervisors and init run from it).
    pub exe: PathBuf,
    pub images: Vec<ImageRule>,
    /// Host paths no sandbox may see (the provider's home, keyring, data and config
    /// directories, configured ones), in any spelling: they are canonicalised here.
    pub secrets: Vec<PathBuf>,
    pub log_max_bytes: u64,
    pub log_files: u32,
    /// Address forwarded ports listen on and URIs name.
    pub listen_host: String,
    pub public_host: String,
    pub provider: String,
    /// Exits in a row, each soon after starting, before a replica is failed for good.
    pub max_restarts: u32,
    /// First uid handed to leases (each lease gets its own, when the provider runs as root).
    pub uid_base: u32,
    /// The bubblewrap program.
    pub bwrap: String,
}

/// How many per-lease uids there are from `uid_base` on.
pub const UID_SLOTS: u32 = 1 << 20;

pub struct HostRuntime {
    s: HostSettings,
    /// Supervisors this process started (reaped here); adopted ones are checked through /proc.
    children: Mutex<HashMap<PathBuf, Child>>,
    forwarders: Mutex<HashMap<String, Vec<tokio::task::JoinHandle<()>>>>,
    cgroup_parent: Option<PathBuf>,
    warning: Option<String>,
    root: Vec<RootEntry>,
    etc: Vec<String>,
    /// Canonical secret paths that lie under a mounted directory (covered in every sandbox).
    hide: Vec<PathBuf>,
    /// Run by root: sandboxes run as per-lease uids. Otherwise as the provider's own uid.
    privileged: bool,
    /// Why no sandbox can be made here (found once, at start).
    unavailable: Option<String>,
}

/// Whether `bwrap` can make a sandbox on this machine: runs a trivial one with the namespaces
/// every replica gets. The error says what is wrong and how to fix it.
pub fn probe_sandbox(bwrap: &str) -> Result<(), String> {
    let mut cmd = Command::new(bwrap);
    if !nix::unistd::Uid::effective().is_root() {
        cmd.arg("--unshare-user");
    }
    cmd.args(["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"])
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"])
        .stdin(Stdio::null());
    match cmd.output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("bubblewrap ({bwrap}) not found; apt-get install bubblewrap"))
        }
        Err(e) => Err(format!("bubblewrap ({bwrap}) cannot run: {e}")),
        Ok(o) if !o.status.success() => Err(format!(
            "bubblewrap ({bwrap}) cannot make a sandbox here: {} (unprivileged user namespaces may be off: sysctl kernel.unprivileged_userns_clone=1, or run the provider as root)",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => Ok(()),
    }
}

/// The TCP ports a service listens on (each gets a listening socket), sorted, once each.
fn tcp_ports(svc: &Service) -> Vec<u16> {
    svc.expose
        .iter()
        .filter(|e| e.proto == Protocol::Tcp)
        .filter_map(|e| u16::try_from(e.port).ok())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A globally exposed port of a service: (service, port, external port, protocol).
pub fn global_ports(group: &ManifestGroup) -> Vec<(String, u32, u32, Protocol)> {
    let mut out = Vec::new();
    for s in &group.services {
        for e in s.expose.iter().filter(|e| e.global) {
            let item = (s.name.clone(), e.port, e.effective_external_port(), e.proto);
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    out
}

fn cgroup_v2() -> (Option<PathBuf>, Option<String>) {
    let root = Path::new("/sys/fs/cgroup");
    let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    if !(controllers.contains("memory") && controllers.contains("cpu")) {
        return (None, Some("cgroup v2 with cpu and memory controllers is not available here: replicas' CPU and memory limits are not enforced".into()));
    }
    let parent = root.join("stratus");
    if fs::create_dir_all(&parent).is_err() || fs::write(root.join("cgroup.subtree_control"), "+cpu +memory").is_err() {
        return (
            None,
            Some("cgroup v2 is not writable by the provider: replicas' CPU and memory limits are not enforced".into()),
        );
    }
    let _ = fs::write(parent.join("cgroup.subtree_control"), "+cpu +memory");
    (Some(parent), None)
}

fn alive(pid: u32, dir: &Path) -> bool {
    // The pid must still be our supervisor for this replica (pids are reused).
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("supervise") && c.contains(&dir.display().to_string())
        })
        .unwrap_or(false)
}

fn supervisor_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("supervisor.pid")).ok()?.trim().parse().ok()
}

fn kill_group(pid: u32) {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
}

/// Stops every workload under a provider's data directory (`stratus down`): each replica's
/// supervisor and its sandbox. Lease records and volumes stay, so the next start restarts them.
/// Returns how many replicas were running.
pub fn stop_all(data_dir: &Path) -> usize {
    let Ok(leases) = fs::read_dir(data_dir.join("leases")) else { return 0 };
    let mut stopped = Vec::new();
    for lease in leases.flatten() {
        let Ok(replicas) = fs::read_dir(lease.path().join("replicas")) else { continue };
        for r in replicas.flatten() {
            let dir = r.path();
            if let Some(pid) = supervisor_pid(&dir).filter(|p| alive(*p, &dir)) {
                kill_group(pid);
                stopped.push((pid, dir));
            }
        }
    }
    // Gone when this returns (SIGKILL is delivered asynchronously).
    for _ in 0..250 {
        if stopped.iter().all(|(pid, dir)| !alive(*pid, dir)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stopped.len()
}

/// A provider that stops (or several sharing a process, one of which stops) releases its
/// forwarded ports; the replicas behind them keep running and the next start forwards again.
impl Drop for HostRuntime {
    fn drop(&mut self) {
        let fw = self.forwarders.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for task in fw.values().flatten() {
            task.abort();
        }
    }
}

impl HostRuntime {
    pub fn new(s: HostSettings) -> HostRuntime {
        let (cgroup_parent, mut warning) = cgroup_v2();
        let privileged = nix::unistd::Uid::effective().is_root();
        if !privileged {
            let w = "the provider does not run as root: workloads run as its own uid (keys and data are hidden from them only by what their sandbox mounts)";
            warning = Some(warning.map_or_else(|| w.to_string(), |c| format!("{c}; {w}")));
        }
        let root = host_root();
        let etc = host_etc();
        let hide = hidden_paths(&s.secrets, &mounted_dirs(&root, &etc));
        let unavailable = probe_sandbox(&s.bwrap).err();
        HostRuntime {
            s,
            children: Mutex::new(HashMap::new()),
            forwarders: Mutex::new(HashMap::new()),
            cgroup_parent,
            warning,
            root,
            etc,
            hide,
            privileged,
            unavailable,
        }
    }

    /// The lease's own unprivileged uid (stable for its life, unique among this provider's
    /// leases), or `None` when the provider is not root.
    pub fn lease_uid(&self, lease: &LeaseId) -> Result<Option<u32>, RuntimeError> {
        if !self.privileged {
            return Ok(None);
        }
        let file = self.lease_dir(lease).join("uid");
        if let Some(uid) = fs::read_to_string(&file).ok().and_then(|t| t.trim().parse().ok()) {
            return Ok(Some(uid));
        }
        let taken: std::collections::BTreeSet<u32> = fs::read_dir(self.s.data_dir.join("leases"))
            .map(|r| {
                r.flatten()
                    .filter_map(|e| fs::read_to_string(e.path().join("uid")).ok())
                    .filter_map(|t| t.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let h = Sha256::digest(lease_key(lease).as_bytes());
        let start = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % UID_SLOTS;
        let uid = (0..UID_SLOTS)
            .map(|k| self.s.uid_base + (start + k) % UID_SLOTS)
            .find(|u| !taken.contains(u))
            .ok_or_else(|| RuntimeError::Invalid("no free per-lease uid left".into()))?;
        fs::create_dir_all(self.lease_dir(lease))?;
        fs::write(&file, uid.to_string())?;
        Ok(Some(uid))
    }

    fn lease_dir(&self, lease: &LeaseId) -> PathBuf {
        self.s.data_dir.join("leases").join(lease_key(lease))
    }

    fn sock_dir(&self, lease: &LeaseId, replica: &str) -> PathBuf {
        let h = Sha256::digest(format!("{}/{replica}", lease_key(lease)).as_bytes());
        self.s.data_dir.join("s").join(hex::encode(&h[..6]))
    }

    /// A replica's listening socket for `port`: `<data>/s/<hash>/<port>/sock`. Every directory on
    /// the way is the provider's; no sandbox can write one, so the path cannot be redirected.
    pub fn socket_path(&self, lease: &LeaseId, replica: &str, port: u16) -> PathBuf {
        self.sock_dir(lease, replica).join(port.to_string()).join("sock")
    }

    pub fn events_path(&self, lease: &LeaseId) -> PathBuf {
        self.lease_dir(lease).join("events.jsonl")
    }

    fn is_running(&self, dir: &Path) -> bool {
        let mut children = self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = children.get_mut(dir) {
            return match c.try_wait() {
                Ok(None) => true,
                _ => {
                    children.remove(dir);
                    false
                }
            };
        }
        supervisor_pid(dir).is_some_and(|pid| alive(pid, dir))
    }

    fn stop(&self, dir: &Path) {
        let child = self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(dir);
        let pid = child.as_ref().map(Child::id).or_else(|| supervisor_pid(dir).filter(|p| alive(*p, dir)));
        if let Some(pid) = pid {
            kill_group(pid);
        }
        if let Some(mut c) = child {
            let _ = c.wait();
        } else if let Some(pid) = pid {
            for _ in 0..100 {
                if !alive(pid, dir) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The command for a service, or why the host runtime cannot run its image.
    fn command(&self, svc: &Service) -> Result<(Vec<String>, ReplicaNetwork), String> {
        let rule = self.s.images.iter().find(|r| glob_match(&r.image, &svc.image));
        let network = rule.map(|r| r.network).unwrap_or_default();
        // Inside the sandbox the binary is at a fixed path.
        let exe = INNER_EXE.to_string();
        let base: Vec<String> = match (rule.and_then(|r| r.command.clone()), &svc.command) {
            (Some(c), _) => c.into_iter().map(|a| a.replace("{stratus}", &exe)).collect(),
            (None, Some(c)) if rule.is_some() && !c.is_empty() => c.clone(),
            (None, _) if rule.is_some() => {
                return Err(format!("image {} runs the manifest's command, and the service has none", svc.image));
            }
            _ => {
                return Err(format!(
                    "image {} is not runnable by the host runtime: no runtime.images rule matches it (the provider maps image names to host commands)",
                    svc.image
                ));
            }
        };
        let mut argv = base;
        argv.extend(svc.args.clone().unwrap_or_default());
        Ok((argv, network))
    }

    fn plan_replica(
        &self,
        d: &LeaseDeployment,
        svc: &Service,
        index: u32,
        (command, network): (Vec<String>, ReplicaNetwork),
    ) -> Result<(SupervisorSpec, InitSpec, String), RuntimeError> {
        let name = format!("{}-{index}", svc.name);
        let lease_dir = self.lease_dir(&d.lease);
        let rdir = lease_dir.join("replicas").join(&name);
        let uid = self.lease_uid(&d.lease)?;
        let own = |path: &Path| -> Result<(), RuntimeError> {
            if let Some(uid) = uid {
                std::os::unix::fs::chown(path, Some(uid), Some(uid))?;
            }
            Ok(())
        };
        let mut plan = SandboxPlan {
            bwrap: self.s.bwrap.clone(),
            root: self.root.clone(),
            etc: self.etc.clone(),
            exe: self.s.exe.clone(),
            hide: self.hide.clone(),
            user_namespace: !self.privileged,
            host_network: network == ReplicaNetwork::Host,
            ..SandboxPlan::default()
        };
        // Volumes: where the manifest mounts them.
        let mounts = crate::runtime::volume_mounts(svc);
        for vol in &svc.resources.storage {
            let Some((mount, ro)) = mounts.get(&vol.name) else { continue };
            if !mount.starts_with('/') {
                return Err(RuntimeError::Invalid(format!(
                    "service {}: volume {} mount {mount:?} is not absolute",
                    svc.name, vol.name
                )));
            }
            // The host's system directories are read-only: a mount inside one needs its
            // directory to exist there already.
            let top = mount.trim_start_matches('/').split('/').next().unwrap_or_default();
            if crate::runtime::sandbox::SYSTEM_DIRS.contains(&top) && !Path::new(mount).is_dir() && mount != "/dev/shm"
            {
                return Err(RuntimeError::Invalid(format!(
                    "service {}: volume {} cannot be mounted at {mount}: /{top} is the host's read-only system directory; mount it elsewhere (e.g. /data)",
                    svc.name, vol.name
                )));
            }
            if vol.is_ram() {
                plan.tmpfs.push((mount.clone(), vol.quantity.0));
            } else if vol.is_persistent() {
                let host = lease_dir.join("volumes").join(&name).join(&vol.name);
                fs::create_dir_all(&host)?;
                own(&host)?;
                plan.binds.push((host, mount.clone(), *ro));
            } else {
                let host = rdir.join("scratch").join(&vol.name);
                fs::create_dir_all(&host)?;
                own(&host)?;
                plan.binds.push((host, mount.clone(), *ro));
            }
        }
        // The replica's own listening sockets are not mounted into it: the supervisor binds them
        // in a directory the sandbox cannot see and passes them in by fd.
        let ports = tcp_ports(svc);
        let listen: Vec<PathBuf> = ports.iter().map(|p| self.socket_path(&d.lease, &name, *p)).collect();
        // The group's other services this one may reach, by name, and only on the ports the
        // SDL's `expose.to` names: each such port's directory is mounted read-only.
        let mut peers = Vec::new();
        let mut hosts = String::from("127.0.0.1 localhost replica\n::1 localhost\n");
        for (i, other) in d.group.services.iter().filter(|o| o.name != svc.name).enumerate() {
            let ports: Vec<u16> = other
                .expose
                .iter()
                .filter(|e| e.service == svc.name && e.proto == Protocol::Tcp)
                .filter_map(|e| u16::try_from(e.port).ok())
                .collect();
            if ports.is_empty() {
                continue;
            }
            let ip = format!("127.0.0.{}", i + 2);
            hosts.push_str(&format!("{ip} {}\n", other.name));
            let inside = format!("/stratus/peers/{}", other.name);
            for port in &ports {
                let dir = self.sock_dir(&d.lease, &format!("{}-0", other.name)).join(port.to_string());
                fs::create_dir_all(&dir)?;
                plan.binds.push((dir, format!("{inside}/{port}"), true));
            }
            peers.push(Peer { name: other.name.clone(), ip, ports, sock_dir: inside });
        }
        fs::create_dir_all(&rdir)?;
        // The replica's specs hold its environment (the tenant's secrets): the provider's only.
        fs::set_permissions(&rdir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let etc_dir = rdir.join("etc");
        fs::create_dir_all(&etc_dir)?;
        let (passwd, group) = passwd_group(uid.unwrap_or_else(|| nix::unistd::Uid::effective().as_raw()));
        for (file, text) in [("hosts", hosts), ("passwd", passwd), ("group", group), ("hostname", "replica\n".into())] {
            fs::write(etc_dir.join(file), text)?;
            plan.binds.push((etc_dir.join(file), format!("/etc/{file}"), true));
        }
        let ready_nonce = hex::encode(&Sha256::digest(format!("ready/{}/{name}", lease_key(&d.lease)).as_bytes())[..8]);
        plan.listen_fds = ports.len();
        let init = InitSpec {
            command,
            ports: ports.clone(),
            peers,
            run_as: uid,
            ready_nonce: ready_nonce.clone(),
            host_network: network == ReplicaNetwork::Host,
        };
        fs::write(
            rdir.join("init.json"),
            serde_json::to_vec_pretty(&init).map_err(|e| RuntimeError::Io(e.to_string()))?,
        )?;
        plan.binds.push((rdir.join("init.json"), "/stratus/init.json".into(), true));
        // GPUs: the devices the reservation assigned to this replica.
        let placement = d.reservation.replicas.iter().find(|p| p.unit == svc.resources.id && p.index == index);
        let mut env = base_env();
        if let Some(p) = placement.filter(|p| !p.gpus.is_empty()) {
            let ids: Vec<String> = p.gpus.iter().map(usize::to_string).collect();
            env.push(("CUDA_VISIBLE_DEVICES".into(), ids.join(",")));
            env.push(("NVIDIA_VISIBLE_DEVICES".into(), ids.join(",")));
            for g in &p.gpus {
                let dev = PathBuf::from(format!("/dev/nvidia{g}"));
                if dev.exists() {
                    plan.devices.push(dev);
                }
            }
            for shared in ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"] {
                if Path::new(shared).exists() {
                    plan.devices.push(shared.into());
                }
            }
        }
        env.extend([
            ("AKASH_OWNER".to_string(), d.lease.owner.to_string()),
            ("AKASH_PROVIDER".to_string(), d.lease.provider.to_string()),
            ("AKASH_DEPLOYMENT_SEQUENCE".to_string(), d.lease.dseq.to_string()),
            ("AKASH_GROUP_SEQUENCE".to_string(), d.lease.gseq.to_string()),
            ("AKASH_ORDER_SEQUENCE".to_string(), d.lease.oseq.to_string()),
            ("AKASH_CLUSTER_PUBLIC_HOSTNAME".to_string(), self.s.public_host.clone()),
        ]);
        for kv in svc.env.clone().unwrap_or_default() {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            env.push((k.to_string(), v.to_string()));
        }
        plan.env = env;
        plan.command = vec![INNER_EXE.into(), "workload".into(), "init".into(), "/stratus/init.json".into()];
        let supervisor = SupervisorSpec {
            name: name.clone(),
            argv: bwrap_argv(&plan),
            log_max_bytes: self.s.log_max_bytes,
            log_files: self.s.log_files,
            events: self.events_path(&d.lease),
            limits: Limits { cpu_millis: svc.resources.cpu_millis(), memory: svc.resources.memory_bytes() },
            cgroup_parent: self.cgroup_parent.clone(),
            listen,
            run_as: uid,
            max_restarts: self.s.max_restarts,
            ready_nonce,
            ports,
        };
        Ok((supervisor, init, name))
    }

    fn start(&self, dir: &Path) -> Result<(), RuntimeError> {
        let child = Command::new(&self.s.exe)
            .args(["workload", "supervise"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C to the provider does not reach workloads, and
            // teardown kills the whole group.
            .process_group(0)
            .spawn()
            .map_err(|e| RuntimeError::Io(format!("cannot start a supervisor from {}: {e}", self.s.exe.display())))?;
        self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(dir.to_path_buf(), child);
        Ok(())
    }

    fn forward(&self, d: &LeaseDeployment) {
        let key = lease_key(&d.lease);
        let mut fw = self.forwarders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if fw.contains_key(&key) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let mut tasks = Vec::new();
        for (service, port, _, proto) in global_ports(&d.group) {
            if proto != Protocol::Tcp {
                continue;
            }
            let Some(host_port) = d.host_ports.get(&format!("{service}:{port}")).copied() else { continue };
            let count = d.group.services.iter().find(|s| s.name == service).map_or(1, |s| s.count);
            let Ok(port16) = u16::try_from(port) else { continue };
            let socks: Vec<PathBuf> =
                (0..count).map(|i| self.socket_path(&d.lease, &format!("{service}-{i}"), port16)).collect();
            let bind = format!("{}:{host_port}", self.s.listen_host);
            tasks.push(handle.spawn(async move {
                let listener = match tokio::net::TcpListener::bind(&bind).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(%bind, error = %e, "cannot listen for a forwarded port");
                        return;
                    }
                };
                let mut next = 0usize;
                loop {
                    let Ok((mut tcp, _)) = listener.accept().await else { continue };
                    let socks = socks.clone();
                    let start = next;
                    next = next.wrapping_add(1);
                    tokio::spawn(async move {
                        for k in 0..socks.len() {
                            let sock = &socks[(start + k) % socks.len()];
                            // Defence in depth: the directory is the provider's, but never
                            // follow anything but a socket.
                            let is_socket = std::fs::symlink_metadata(sock)
                                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
                            if !is_socket {
                                continue;
                            }
                            if let Ok(mut unix) = tokio::net::UnixStream::connect(sock).await {
                                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                                return;
                            }
                        }
                    });
                }
            }));
        }
        fw.insert(key, tasks);
    }

    fn replica_dirs(&self, lease: &LeaseId) -> Vec<PathBuf> {
        fs::read_dir(self.lease_dir(lease).join("replicas"))
            .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default()
    }

    fn log_dirs(&self, lease: &LeaseId, service: Option<&str>) -> Vec<(String, u32, PathBuf)> {
        let mut out: Vec<(String, u32, PathBuf)> = self
            .replica_dirs(lease)
            .into_iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_string_lossy().into_owned();
                let (svc, idx) = name.rsplit_once('-')?;
                let idx: u32 = idx.parse().ok()?;
                service.is_none_or(|s| s == svc).then(|| (svc.to_string(), idx, p))
            })
            .collect();
        out.sort();
        out
    }
}

impl Runtime for HostRuntime {
    fn deploy(&self, d: &LeaseDeployment) -> Result<(), RuntimeError> {
        let lease_dir = self.lease_dir(&d.lease);
        fs::create_dir_all(lease_dir.join("replicas"))?;
        let mut wanted = Vec::new();
        let mut started = Vec::new();
        // Every socket directory first: peers mount each other's.
        for svc in &d.group.services {
            for i in 0..svc.count {
                for port in tcp_ports(svc) {
                    if let Some(dir) = self.socket_path(&d.lease, &format!("{}-{i}", svc.name), port).parent() {
                        fs::create_dir_all(dir)?;
                    }
                }
            }
        }
        for svc in &d.group.services {
            let command = self.command(svc);
            for i in 0..svc.count {
                let name = format!("{}-{i}", svc.name);
                let rdir = lease_dir.join("replicas").join(&name);
                fs::create_dir_all(&rdir)?;
                wanted.push(rdir.clone());
                let command = match &command {
                    Ok(c) => c.clone(),
                    Err(why) => {
                        // Never silent: the tenant sees this in the service's status.
                        self.stop(&rdir);
                        let status = StatusFile {
                            state: ReplicaState::Failed,
                            pid: None,
                            restarts: 0,
                            message: Some(why.clone()),
                            since_ms: crate::runtime::workload::now_ms(),
                        };
                        fs::write(rdir.join("status.json"), serde_json::to_vec(&status).unwrap_or_default())?;
                        let _ = fs::remove_file(rdir.join("supervisor.json"));
                        append_event(&self.events_path(&d.lease), "replica_failed", format!("{name}: {why}"));
                        continue;
                    }
                };
                let (spec, _, _) = self.plan_replica(d, svc, i, command)?;
                let text = serde_json::to_vec_pretty(&spec).map_err(|e| RuntimeError::Io(e.to_string()))?;
                let unchanged = fs::read(rdir.join("supervisor.json")).ok().as_deref() == Some(text.as_slice());
                if unchanged && self.is_running(&rdir) {
                    continue;
                }
                self.stop(&rdir);
                fs::write(rdir.join("supervisor.json"), &text)?;
                let _ = fs::remove_file(rdir.join("status.json"));
                self.start(&rdir)?;
                started.push(name);
            }
        }
        // Replicas the manifest no longer has.
        for dir in self.replica_dirs(&d.lease) {
            if !wanted.contains(&dir) {
                self.stop(&dir);
                let _ = fs::remove_dir_all(&dir);
            }
        }
        if !started.is_empty() {
            append_event(&self.events_path(&d.lease), "deployed", format!("started {}", started.join(", ")));
        }
        crate::runtime::write_deployment(&lease_dir, d)?;
        self.forward(d);
        Ok(())
    }

    fn observe(&self) -> BTreeMap<LeaseId, ObservedLease> {
        let mut out = BTreeMap::new();
        for d in self.deployments() {
            // Supervisors restart their replica themselves (`restarting`); a replica is `stopped`
            // only when its supervisor is gone (the machine rebooted, `stratus down`): no crash,
            // so the plan starts it again at once.
            let replicas = self
                .status(&d)
                .into_iter()
                .flat_map(|s| {
                    let name = s.name.clone();
                    s.replicas.into_iter().map(move |r| ObservedReplica {
                        name: format!("{name}-{}", r.index),
                        state: r.state,
                        crashes: 0,
                        exited_at_ms: None,
                        message: r.message,
                        exit_code: None,
                    })
                })
                .collect();
            out.insert(d.lease.clone(), ObservedLease { version: d.version(), replicas });
        }
        out
    }

    fn restart(&self, lease: &LeaseId, _replica: &str) -> Result<(), RuntimeError> {
        // Deploying again starts every replica whose supervisor is gone and touches nothing
        // that runs.
        let d = self
            .deployment(lease)
            .ok_or_else(|| RuntimeError::Invalid(format!("lease {lease} is not deployed here")))?;
        self.deploy(&d)
    }

    fn events_since(&self, lease: &LeaseId, cursor: &mut LogCursor) -> Vec<LeaseEvent> {
        crate::runtime::events_since(&self.events_path(lease), cursor)
    }

    fn resume(&self) {
        for d in self.deployments() {
            self.forward(&d);
        }
    }

    fn status(&self, d: &LeaseDeployment) -> Vec<ServiceStatus> {
        let lease_dir = self.lease_dir(&d.lease);
        let mut out = Vec::new();
        for svc in &d.group.services {
            let mut replicas = Vec::new();
            for i in 0..svc.count {
                let rdir = lease_dir.join("replicas").join(format!("{}-{i}", svc.name));
                let file = read_status(&rdir);
                let running = self.is_running(&rdir);
                // The supervisor says `running` only once the replica serves (its ports accept
                // connections) and `restarting` with the last exit between runs.
                let (state, restarts, message) = match file {
                    Some(f) if f.state == ReplicaState::Failed => (ReplicaState::Failed, f.restarts, f.message),
                    Some(f) if running => (f.state, f.restarts, f.message),
                    Some(f) => (ReplicaState::Stopped, f.restarts, f.message),
                    None if running => (ReplicaState::Starting, 0, None),
                    None => (ReplicaState::Stopped, 0, None),
                };
                replicas.push(ReplicaStatus { index: i, state, restarts, message });
            }
            out.push(crate::runtime::service_status(d, svc, replicas, &self.s.public_host));
        }
        out
    }

    fn logs(&self, lease: &LeaseId, service: Option<&str>, tail: usize) -> (Vec<LogLine>, LogCursor) {
        let mut lines = Vec::new();
        let mut cursor = LogCursor::default();
        for (svc, idx, dir) in self.log_dirs(lease, service) {
            let (entries, pos) = logs::tail(&dir, self.s.log_files, tail);
            cursor.positions.insert(format!("{svc}-{idx}"), pos);
            lines.extend(entries.into_iter().map(|e| LogLine {
                service: svc.clone(),
                replica: idx,
                stream: e.stream,
                time_ms: e.time_ms,
                line: e.text,
            }));
        }
        lines.sort_by_key(|l| l.time_ms);
        let skip = lines.len().saturating_sub(tail);
        (lines.split_off(skip), cursor)
    }

    fn logs_since(&self, lease: &LeaseId, service: Option<&str>, cursor: &mut LogCursor) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for (svc, idx, dir) in self.log_dirs(lease, service) {
            let pos = cursor.positions.entry(format!("{svc}-{idx}")).or_insert((0, 0));
            lines.extend(logs::since(&dir, pos).into_iter().map(|e| LogLine {
                service: svc.clone(),
                replica: idx,
                stream: e.stream,
                time_ms: e.time_ms,
                line: e.text,
            }));
        }
        lines.sort_by_key(|l| l.time_ms);
        lines
    }

    fn teardown(&self, lease: &LeaseId) -> Result<(), RuntimeError> {
        if let Some(tasks) =
            self.forwarders.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&lease_key(lease))
        {
            for t in tasks {
                t.abort();
            }
        }
        for dir in self.replica_dirs(lease) {
            self.stop(&dir);
            if let Some(name) = dir.file_name() {
                let _ = fs::remove_dir_all(self.sock_dir(lease, &name.to_string_lossy()));
            }
        }
        let dir = self.lease_dir(lease);
        for _ in 0..10 {
            match fs::remove_dir_all(&dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        fs::remove_dir_all(&dir).map_err(|e| RuntimeError::Io(format!("deleting {}: {e}", dir.display())))
    }

    fn warning(&self) -> Option<String> {
        self.warning.clone()
    }

    fn unavailable(&self) -> Option<String> {
        self.unavailable.clone()
    }
}

impl HostRuntime {
    pub fn lease_dir_of(&self, lease: &LeaseId) -> PathBuf {
        self.lease_dir(lease)
    }

    /// What this runtime deployed for `lease`, from its own record.
    fn deployment(&self, lease: &LeaseId) -> Option<LeaseDeployment> {
        crate::runtime::read_deployment(&self.lease_dir(lease))
    }

    /// Everything this runtime has deployed (leases with a record of what they run).
    fn deployments(&self) -> Vec<LeaseDeployment> {
        crate::runtime::read_deployments(&self.s.data_dir.join("leases"))
    }
}
