//! The container backend (`[runtime] kind = "container"`): OCI containers through the Docker
//! Engine API — Docker in production, podman's Docker-compatible service here — with `bollard`.
//!
//! Per lease: one network (`stratus-<key>`), a named volume per replica and mounted volume, one
//! container per replica ([`spec`] says exactly what). Every object carries the lease's labels, so
//! the engine itself is the record of what runs: a restarted provider lists by label and finds
//! its containers running (same ids, nothing restarted). Replicas restart on failure under the
//! engine's policy, up to `max_restarts`; a container that exhausted it, was OOM-killed past it,
//! or could not be created (image not in the local store and not pullable) is `failed`, and the
//! reconcile plan closes its lease.
//!
//! The runtime's own files (`<data>/container/<key>/`): `deployment.json` (what it was asked to
//! run, whose version `observe` reports), `failures.json` (replicas that could not be created, and
//! why) and `events.jsonl`.

mod raw;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{
    ContainerCreateBody, ContainerState, ContainerStateStatusEnum, DeviceRequest, EndpointSettings, HostConfig, Mount,
    MountType, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use futures_util::StreamExt;
use stratus_types::gateway::{LeaseEvent, LogLine, ReplicaState, ReplicaStatus, ServiceStatus};
use stratus_types::market::LeaseId;

use crate::pure::reconcile::{ObservedLease, ObservedReplica};
use crate::runtime::container::spec::ContainerPlan;
use crate::runtime::workload::append_event;
use crate::runtime::{LeaseDeployment, LogCursor, Runtime, RuntimeError, lease_key};

pub struct ContainerSettings {
    /// The runtime's own directory (`<data>/container`).
    pub data_dir: PathBuf,
    /// `unix:///path`, a socket path, or `tcp://host:port`; `None`: `DOCKER_HOST`, then the
    /// usual sockets.
    pub engine_socket: Option<String>,
    /// Address published ports bind to, and the host URIs name.
    pub listen_host: String,
    pub public_host: String,
    pub max_restarts: u32,
    /// This provider's address: one engine may serve several providers (a devnet's do), and each
    /// sees only the objects labelled with its own address.
    pub provider: String,
}

pub struct ContainerRuntime {
    docker: Docker,
    /// Engine calls run here (the `Runtime` trait is synchronous). An `Option` only so that
    /// dropping it never blocks (it may be dropped inside another runtime's task).
    rt: Option<tokio::runtime::Runtime>,
    s: ContainerSettings,
    /// Where the engine answered.
    pub engine: String,
    /// The engine is podman: each container gets its own user namespace (`UsernsMode: auto`, so
    /// root inside is an unprivileged uid outside) and each lease's network is isolated from the
    /// others (`isolate`). Docker does both daemon-wide (`userns-remap`; bridge networks are
    /// isolated from each other by default).
    podman: bool,
    /// When the engine last answered a ping, and what it said.
    health: Mutex<(Instant, Option<String>)>,
    /// One deploy or teardown at a time: the gateway (a manifest) and the reconcile loop may
    /// both deploy a lease at once, and the engine's create calls are check-then-act.
    changing: Mutex<()>,
}

/// Where to look for an engine, in order.
pub fn engine_candidates(configured: Option<&str>) -> Vec<String> {
    if let Some(c) = configured {
        return vec![c.to_string()];
    }
    if let Ok(h) = std::env::var("DOCKER_HOST")
        && !h.is_empty()
    {
        return vec![h];
    }
    vec!["unix:///var/run/docker.sock".into(), "unix:///run/podman/podman.sock".into()]
}

fn connect(uri: &str) -> Result<Docker, String> {
    let made = if let Some(path) = uri.strip_prefix("unix://") {
        Docker::connect_with_unix(path, 60, bollard::API_DEFAULT_VERSION)
    } else if uri.starts_with('/') {
        Docker::connect_with_unix(uri, 60, bollard::API_DEFAULT_VERSION)
    } else {
        let http = uri.replacen("tcp://", "http://", 1);
        Docker::connect_with_http(&http, 60, bollard::API_DEFAULT_VERSION)
    };
    made.map_err(|e| e.to_string())
}

fn io(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io(e.to_string())
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Runs `f` on `rt` and waits for it from any thread, inside another runtime's task or not
/// (`block_on` would panic there).
fn run_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    f: impl Future<Output = T> + Send + 'static,
) -> Result<T, RuntimeError> {
    let (send, recv) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = send.send(f.await);
    });
    recv.recv().map_err(|_| RuntimeError::Io("the engine call was abandoned".into()))
}

impl Drop for ContainerRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Whether an engine answers at `uri` (a ping within 5 s).
pub fn probe(uri: &str) -> Result<(), String> {
    let docker = connect(uri)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 5 s".into()),
        }
    })
}

impl ContainerRuntime {
    /// Finds an engine that answers, or says where it looked and how to start one.
    pub fn connect(s: ContainerSettings) -> Result<ContainerRuntime, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("container-engine")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the engine client: {e}"))?;
        let candidates = engine_candidates(s.engine_socket.as_deref());
        let mut tried = Vec::new();
        for uri in &candidates {
            let docker = match connect(uri) {
                Ok(d) => d,
                Err(e) => {
                    tried.push(format!("{uri}: {e}"));
                    continue;
                }
            };
            let probe = docker.clone();
            let answered = run_on(&rt, async move {
                match tokio::time::timeout(Duration::from_secs(5), probe.ping()).await {
                    Ok(Ok(_)) => {
                        let docker = probe.negotiate_version().await.map_err(|e| e.to_string())?;
                        let version = docker.version().await.map_err(|e| e.to_string())?;
                        let podman = version
                            .components
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c.name.to_lowercase().contains("podman"));
                        Ok((docker, podman))
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer within 5 s".into()),
                }
            })
            .unwrap_or_else(|e| Err(e.to_string()));
            match answered {
                Ok((docker, podman)) => {
                    if let Err(e) = fs::create_dir_all(&s.data_dir) {
                        rt.shutdown_background();
                        return Err(format!("{}: {e}", s.data_dir.display()));
                    }
                    return Ok(ContainerRuntime {
                        docker,
                        rt: Some(rt),
                        s,
                        engine: uri.clone(),
                        podman,
                        health: Mutex::new((Instant::now(), None)),
                        changing: Mutex::new(()),
                    });
                }
                Err(e) => tried.push(format!("{uri}: {e}")),
            }
        }
        rt.shutdown_background();
        Err(format!(
            "no container engine answers ({}). Start Docker, or podman's service (`podman system service --time=0 unix:///run/podman/podman.sock`), or set [runtime] engine_socket",
            tried.join("; ")
        ))
    }

    /// Runs an engine call to completion on the runtime's own threads (callers may be async
    /// tasks or blocking threads; neither enters this runtime).
    fn block<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> Result<T, RuntimeError> {
        let rt = self.rt.as_ref().ok_or_else(|| RuntimeError::Io("the engine client is shut down".into()))?;
        run_on(rt, f)
    }

    fn lease_dir(&self, lease: &LeaseId) -> PathBuf {
        self.s.data_dir.join(lease_key(lease))
    }

    fn deployment(&self, lease: &LeaseId) -> Option<LeaseDeployment> {
        crate::runtime::read_deployment(&self.lease_dir(lease))
    }

    fn deployments(&self) -> Vec<LeaseDeployment> {
        crate::runtime::read_deployments(&self.s.data_dir)
    }

    fn failures(&self, lease: &LeaseId) -> BTreeMap<String, String> {
        fs::read(self.lease_dir(lease).join("failures.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn event(&self, lease: &LeaseId, kind: &str, message: String) {
        append_event(&self.lease_dir(lease).join("events.jsonl"), kind, message);
    }

    /// Every labelled container of `lease` (or of all leases), with its details.
    fn containers(&self, lease: Option<&LeaseId>) -> Result<Vec<Inspected>, RuntimeError> {
        let engine = self.engine.clone();
        let filter = match lease {
            Some(l) => format!("{}={}", spec::LEASE, lease_key(l)),
            None => format!("{}={}", spec::PROVIDER, self.s.provider),
        };
        self.block(async move {
            let mut out = Vec::new();
            for c in raw::list(&engine, &filter).await? {
                // Gone between the listing and now: not there.
                if let Ok(i) = raw::inspect(&engine, &c.id).await {
                    out.push(i);
                }
            }
            Ok::<_, String>(out)
        })?
        .map_err(RuntimeError::Io)
    }

    /// Replica name → (state, restarts, message), for a deployed lease.
    fn replica_states(&self, d: &LeaseDeployment) -> BTreeMap<String, (ReplicaState, u32, Option<String>)> {
        let containers = self.containers(Some(&d.lease)).unwrap_or_default();
        let failures = self.failures(&d.lease);
        let mut out = BTreeMap::new();
        for svc in &d.group.services {
            for i in 0..svc.count {
                let name = format!("{}-{i}", svc.name);
                let found = containers.iter().find(|c| {
                    c.labels.get(spec::SERVICE) == Some(&svc.name)
                        && c.labels.get(spec::REPLICA) == Some(&i.to_string())
                });
                let state = match (found, failures.get(&name)) {
                    (_, Some(why)) => (ReplicaState::Failed, 0, Some(why.clone())),
                    (Some(c), None) => {
                        replica_state(&c.state, c.restarts, self.s.max_restarts, svc.resources.memory_bytes())
                    }
                    (None, None) => (ReplicaState::Stopped, 0, Some("no container".into())),
                };
                out.insert(name, state);
            }
        }
        out
    }

    async fn ensure_image(docker: &Docker, plan: &ContainerPlan) -> Result<(), String> {
        if docker.inspect_image(&plan.image).await.is_ok() {
            return Ok(());
        }
        let credentials = plan.credentials.as_ref().map(|c| DockerCredentials {
            username: Some(c.username.clone()),
            password: Some(c.password.clone()),
            email: (!c.email.is_empty()).then(|| c.email.clone()),
            serveraddress: Some(c.host.clone()),
            ..DockerCredentials::default()
        });
        let options = CreateImageOptionsBuilder::new().from_image(&plan.image).build();
        let mut pull = docker.create_image(Some(options), None, credentials);
        let outcome = tokio::time::timeout(Duration::from_secs(300), async {
            while let Some(step) = pull.next().await {
                step.map_err(|e| engine_message(&e))?;
            }
            Ok::<(), String>(())
        })
        .await
        .unwrap_or_else(|_| Err("no progress within 300 s".into()));
        outcome.map_err(|why| format!("image {}: not in the local store and the pull failed: {why}", plan.image))
    }

    async fn create(
        docker: &Docker,
        plan: &ContainerPlan,
        network: &str,
        listen_host: &str,
        max_restarts: u32,
        podman: bool,
    ) -> Result<(), String> {
        Self::ensure_image(docker, plan).await?;
        let lease_labels: HashMap<String, String> = plan
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != spec::SERVICE && k.as_str() != spec::REPLICA && k.as_str() != spec::VERSION)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for v in &plan.volumes {
            if docker.inspect_volume(&v.name).await.is_err() {
                docker
                    .create_volume(VolumeCreateRequest {
                        name: Some(v.name.clone()),
                        labels: Some(lease_labels.clone()),
                        ..VolumeCreateRequest::default()
                    })
                    .await
                    .map_err(|e| format!("volume {}: {}", v.name, engine_message(&e)))?;
            }
        }
        // podman: volumes as binds with `U`, so each is owned by the container's own (mapped) root
        // and stays writable when a new version's container gets another uid range.
        let binds: Vec<String> = plan
            .volumes
            .iter()
            .map(|v| format!("{}:{}:{}U", v.name, v.target, if v.read_only { "ro," } else { "" }))
            .collect();
        let mounts: Vec<Mount> = plan
            .volumes
            .iter()
            .map(|v| Mount {
                target: Some(v.target.clone()),
                source: Some(v.name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(v.read_only),
                ..Mount::default()
            })
            .collect();
        let mut port_bindings = HashMap::new();
        for p in &plan.ports {
            if let Some(host_port) = p.host_port {
                port_bindings.insert(
                    format!("{}/{}", p.port, p.proto),
                    Some(vec![PortBinding {
                        host_ip: Some(listen_host.to_string()),
                        host_port: Some(host_port.to_string()),
                    }]),
                );
            }
        }
        let device_requests = (!plan.gpus.is_empty()).then(|| {
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                device_ids: Some(plan.gpus.clone()),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..DeviceRequest::default()
            }]
        });
        let host_config = HostConfig {
            memory: (plan.memory > 0).then_some(plan.memory as i64),
            nano_cpus: (plan.nano_cpus > 0).then_some(plan.nano_cpus as i64),
            shm_size: plan.shm_size.map(|s| s as i64),
            tmpfs: (!plan.tmpfs.is_empty())
                .then(|| plan.tmpfs.iter().map(|(path, size)| (path.clone(), format!("size={size}"))).collect()),
            mounts: (!podman && !mounts.is_empty()).then_some(mounts),
            binds: (podman && !binds.is_empty()).then_some(binds),
            userns_mode: podman.then(|| "auto".to_string()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            network_mode: Some(network.to_string()),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(i64::from(max_restarts)),
            }),
            device_requests,
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..HostConfig::default()
        };
        let body = ContainerCreateBody {
            image: Some(plan.image.clone()),
            entrypoint: plan.entrypoint.clone(),
            cmd: plan.cmd.clone(),
            env: Some(plan.env.clone()),
            labels: Some(plan.labels.clone().into_iter().collect()),
            hostname: Some(format!("{}-{}", plan.service, plan.index)),
            exposed_ports: Some(plan.ports.iter().map(|p| format!("{}/{}", p.port, p.proto)).collect()),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings { aliases: Some(vec![plan.service.clone()]), ..EndpointSettings::default() },
                )])),
            }),
            ..ContainerCreateBody::default()
        };
        docker
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&plan.name).build()), body)
            .await
            .map_err(|e| format!("creating {}: {}", plan.name, engine_message(&e)))?;
        docker
            .start_container(&plan.name, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| format!("starting {}: {}", plan.name, engine_message(&e)))
    }
}

use raw::Inspected;

/// A container's state in words a tenant understands.
pub fn replica_state(
    state: &ContainerState,
    restarts: i64,
    max_restarts: u32,
    memory: u64,
) -> (ReplicaState, u32, Option<String>) {
    let restarts_u = u32::try_from(restarts).unwrap_or(u32::MAX);
    let code = state.exit_code.unwrap_or(0);
    let oom = state.oom_killed.unwrap_or(false);
    let how = if oom {
        format!("killed for running out of memory (its limit is {})", stratus_types::units::format_bytes(memory))
    } else {
        format!("exited with code {code}")
    };
    match state.status {
        Some(ContainerStateStatusEnum::RUNNING) => (ReplicaState::Running, restarts_u, None),
        Some(ContainerStateStatusEnum::CREATED) => (ReplicaState::Starting, restarts_u, None),
        Some(ContainerStateStatusEnum::RESTARTING) => {
            (ReplicaState::Restarting, restarts_u, Some(format!("{how}; restart {restarts} of {max_restarts}")))
        }
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) if code == 0 && !oom => {
            (ReplicaState::Stopped, restarts_u, Some("exited with code 0 (a service must keep running)".into()))
        }
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) if restarts_u >= max_restarts => {
            (ReplicaState::Failed, restarts_u, Some(format!("crash loop: {how} after {restarts} restarts")))
        }
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
            (ReplicaState::Restarting, restarts_u, Some(format!("{how}; restart {restarts} of {max_restarts}")))
        }
        Some(ContainerStateStatusEnum::PAUSED) => (ReplicaState::Stopped, restarts_u, Some("paused".into())),
        _ => (ReplicaState::Starting, restarts_u, state.error.clone().filter(|e| !e.is_empty())),
    }
}

/// Parses an engine log timestamp (RFC 3339, UTC, any fraction) to milliseconds since the epoch.
pub fn parse_timestamp_ms(t: &str) -> Option<u64> {
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + millis).ok()
}

impl Runtime for ContainerRuntime {
    fn deploy(&self, d: &LeaseDeployment) -> Result<(), RuntimeError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let plans = spec::plan(d, &self.s.public_host).map_err(RuntimeError::Invalid)?;
        let dir = self.lease_dir(&d.lease);
        fs::create_dir_all(&dir)?;
        crate::runtime::write_deployment(&dir, d)?;
        let docker = self.docker.clone();
        let network = spec::network_name(&d.lease);
        let labels: HashMap<String, String> = spec::lease_labels(&d.lease).into_iter().collect();
        let listen_host = self.s.listen_host.clone();
        let version = d.version();
        let max_restarts = self.s.max_restarts;
        let lease = d.lease.clone();
        let engine = self.engine.clone();
        let podman = self.podman;
        let (started, failures) = self
            .block(async move {
                if docker.inspect_network(&network, None).await.is_err() {
                    let made = if podman {
                        raw::create_isolated_podman_network(&engine, &network, &labels).await
                    } else {
                        docker
                            .create_network(NetworkCreateRequest {
                                name: network.clone(),
                                labels: Some(labels.clone()),
                                ..NetworkCreateRequest::default()
                            })
                            .await
                            .map(|_| ())
                            .map_err(|e| engine_message(&e))
                    };
                    // Made meanwhile (another deploy of the lease) is fine.
                    if let Err(message) = made
                        && !message.contains("already")
                    {
                        return Err(format!("network {network}: {message}"));
                    }
                }
                let existing = raw::list(&engine, &format!("{}={}", spec::LEASE, lease_key(&lease))).await?;
                let (mut started, mut failures) = (Vec::new(), BTreeMap::new());
                for plan in &plans {
                    if let Some(c) = existing.iter().find(|c| c.name == plan.name) {
                        let same = c.labels.get(spec::VERSION) == Some(&version);
                        if same {
                            continue;
                        }
                        let _ = docker
                            .remove_container(
                                &plan.name,
                                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
                            )
                            .await;
                    }
                    match Self::create(&docker, plan, &network, &listen_host, max_restarts, podman).await {
                        Ok(()) => started.push(plan.name.clone()),
                        Err(why) => {
                            failures.insert(format!("{}-{}", plan.service, plan.index), why);
                        }
                    }
                }
                // Replicas the manifest no longer has.
                for c in existing.iter().filter(|c| !plans.iter().any(|p| p.name == c.name)) {
                    let _ = docker
                        .remove_container(&c.id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
                        .await;
                }
                Ok::<_, String>((started, failures))
            })?
            .map_err(RuntimeError::Io)?;
        fs::write(dir.join("failures.json"), serde_json::to_vec(&failures).map_err(io)?)?;
        for (replica, why) in &failures {
            self.event(&d.lease, "replica_failed", format!("{replica}: {why}"));
        }
        if !started.is_empty() {
            self.event(&d.lease, "deployed", format!("started {}", started.join(", ")));
        }
        Ok(())
    }

    fn observe(&self) -> BTreeMap<LeaseId, ObservedLease> {
        let mut out = BTreeMap::new();
        for d in self.deployments() {
            let replicas = self
                .replica_states(&d)
                .into_iter()
                .map(|(name, (state, _, message))| ObservedReplica {
                    name,
                    state,
                    crashes: 0,
                    exited_at_ms: None,
                    message,
                    exit_code: None,
                })
                .collect();
            out.insert(d.lease.clone(), ObservedLease { version: d.version(), replicas });
        }
        // Objects of leases this runtime has no record of (a teardown cut short): reported with no
        // version, so the plan tears them down (or redeploys, if the lease is still active).
        for c in self.containers(None).unwrap_or_default() {
            if let Some(lease) = spec::lease_of(&c.labels) {
                out.entry(lease).or_insert_with(|| ObservedLease { version: String::new(), replicas: Vec::new() });
            }
        }
        let docker = self.docker.clone();
        let mine = format!("{}={}", spec::PROVIDER, self.s.provider);
        let leftovers = self
            .block(async move {
                let filters = HashMap::from([("label", vec![mine])]);
                let mut labels = Vec::new();
                if let Ok(v) =
                    docker.list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build())).await
                {
                    labels.extend(v.volumes.unwrap_or_default().into_iter().map(|v| v.labels));
                }
                if let Ok(n) =
                    docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filters).build())).await
                {
                    labels.extend(n.into_iter().filter_map(|n| n.labels));
                }
                labels
            })
            .unwrap_or_default();
        for l in leftovers {
            if let Some(lease) = spec::lease_of(&l) {
                out.entry(lease).or_insert_with(|| ObservedLease { version: String::new(), replicas: Vec::new() });
            }
        }
        out
    }

    fn restart(&self, lease: &LeaseId, _replica: &str) -> Result<(), RuntimeError> {
        let d = self
            .deployment(lease)
            .ok_or_else(|| RuntimeError::Invalid(format!("lease {lease} is not deployed here")))?;
        // Containers the engine stopped for good are recreated; running ones are left alone.
        let stopped: Vec<String> = self
            .containers(Some(lease))?
            .into_iter()
            .filter(|c| {
                matches!(c.state.status, Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD))
            })
            .map(|c| c.id)
            .collect();
        let docker = self.docker.clone();
        self.block(async move {
            for id in stopped {
                let _ =
                    docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).build())).await;
            }
        })?;
        let _ = fs::remove_file(self.lease_dir(lease).join("failures.json"));
        self.deploy(&d)
    }

    fn status(&self, d: &LeaseDeployment) -> Vec<ServiceStatus> {
        let states = self.replica_states(d);
        let mut out = Vec::new();
        for svc in &d.group.services {
            let replicas: Vec<ReplicaStatus> = (0..svc.count)
                .map(|i| {
                    let (state, restarts, message) =
                        states.get(&format!("{}-{i}", svc.name)).cloned().unwrap_or((ReplicaState::Stopped, 0, None));
                    ReplicaStatus { index: i, state, restarts, message }
                })
                .collect();
            out.push(crate::runtime::service_status(d, svc, replicas, &self.s.public_host));
        }
        out
    }

    fn logs(&self, lease: &LeaseId, service: Option<&str>, tail: usize) -> (Vec<LogLine>, LogCursor) {
        let mut cursor = LogCursor::default();
        let lines = self.read_logs(lease, service, Some(tail), &mut cursor);
        (lines, cursor)
    }

    fn logs_since(&self, lease: &LeaseId, service: Option<&str>, cursor: &mut LogCursor) -> Vec<LogLine> {
        self.read_logs(lease, service, None, cursor)
    }

    fn events_since(&self, lease: &LeaseId, cursor: &mut LogCursor) -> Vec<LeaseEvent> {
        crate::runtime::events_since(&self.lease_dir(lease).join("events.jsonl"), cursor)
    }

    fn teardown(&self, lease: &LeaseId) -> Result<(), RuntimeError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let docker = self.docker.clone();
        let engine = self.engine.clone();
        let filter = format!("{}={}", spec::LEASE, lease_key(lease));
        let network = spec::network_name(lease);
        self.block(async move {
            let filters = HashMap::from([("label", vec![filter.clone()])]);
            for c in raw::list(&engine, &filter).await? {
                // The engine sometimes refuses a removal while a container is still stopping
                // ("device or resource busy"): try again before giving up.
                let mut last = Ok(());
                for attempt in 0..5 {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
                    last = match docker.remove_container(&c.id, Some(options)).await {
                        Ok(()) => Ok(()),
                        Err(e) if not_found(&e) => Ok(()),
                        Err(e) => Err(engine_message(&e)),
                    };
                    if last.is_ok() {
                        break;
                    }
                }
                last?;
            }
            let volumes = docker
                .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&filters).build()))
                .await
                .map_err(|e| engine_message(&e))?;
            for v in volumes.volumes.unwrap_or_default() {
                docker
                    .remove_volume(&v.name, Some(RemoveVolumeOptionsBuilder::new().force(true).build()))
                    .await
                    .or_else(|e| if not_found(&e) { Ok(()) } else { Err(engine_message(&e)) })?;
            }
            docker
                .remove_network(&network)
                .await
                .or_else(|e| if not_found(&e) { Ok(()) } else { Err(engine_message(&e)) })?;
            Ok::<(), String>(())
        })?
        .map_err(RuntimeError::Io)?;
        if self.podman {
            self.restore_isolation();
        }
        let dir = self.lease_dir(lease);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    fn resume(&self) {
        // The engine publishes ports and restarts containers itself: nothing to re-attach.
    }

    fn warning(&self) -> Option<String> {
        Some(
            "container backend: services of one deployment share a network, so `expose.to` between them is not enforced by the engine; ephemeral storage size is not enforced".into(),
        )
    }

    fn unavailable(&self) -> Option<String> {
        let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if health.0.elapsed() < Duration::from_secs(10) && health.1.is_none() {
            return None;
        }
        let docker = self.docker.clone();
        let answer = self
            .block(async move { tokio::time::timeout(Duration::from_secs(3), docker.ping()).await })
            .ok()
            .and_then(Result::ok);
        health.0 = Instant::now();
        health.1 = match answer {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(format!("the container engine at {} fails: {e}", self.engine)),
            None => Some(format!("the container engine at {} does not answer", self.engine)),
        };
        health.1.clone()
    }
}

impl ContainerRuntime {
    /// podman 4's netavark drops the isolation rules of every other network when one network is
    /// removed (found by `a_hostile_container_reaches_nothing_but_its_own_lease`): after removing
    /// a lease's network, reload the firewall rules of all containers. Only the podman command
    /// does that (its API has no call for it), so it is run when the engine is a local socket.
    fn restore_isolation(&self) {
        if !(self.engine.starts_with("unix://") || self.engine.starts_with('/')) {
            tracing::warn!(engine = %self.engine, "cannot reload podman's firewall rules on a remote engine: networks may not be isolated until the next container starts");
            return;
        }
        match std::process::Command::new("podman").args(["network", "reload", "--all"]).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => tracing::warn!(
                "podman network reload failed: {}; networks may not be isolated until the next container starts",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => tracing::warn!(
                "podman network reload: {e}; networks may not be isolated until the next container starts"
            ),
        }
    }

    fn read_logs(
        &self,
        lease: &LeaseId,
        service: Option<&str>,
        tail: Option<usize>,
        cursor: &mut LogCursor,
    ) -> Vec<LogLine> {
        let containers = self.containers(Some(lease)).unwrap_or_default();
        let mut out = Vec::new();
        for c in containers {
            let (Some(svc), Some(replica)) = (c.labels.get(spec::SERVICE), c.labels.get(spec::REPLICA)) else {
                continue;
            };
            if service.is_some_and(|s| s != svc) {
                continue;
            }
            let name = format!("{svc}-{replica}");
            let since = cursor.positions.get(&name).map(|p| p.0);
            let mut options = LogsOptionsBuilder::new().stdout(true).stderr(true).timestamps(true);
            if let Some(t) = tail {
                options = options.tail(&t.to_string());
            }
            if let Some(ms) = since {
                options = options.since(i32::try_from(ms / 1000).unwrap_or(i32::MAX));
            }
            let docker = self.docker.clone();
            let id = c.id.clone();
            let options = options.build();
            let chunks = self
                .block(async move {
                    let mut stream = docker.logs(&id, Some(options));
                    let mut chunks = Vec::new();
                    while let Some(Ok(item)) = stream.next().await {
                        chunks.push(item);
                    }
                    chunks
                })
                .unwrap_or_default();
            let mut last = since.unwrap_or(0);
            for chunk in chunks {
                let (stream, bytes) = match chunk {
                    bollard::container::LogOutput::StdErr { message } => ("stderr", message),
                    bollard::container::LogOutput::StdOut { message } => ("stdout", message),
                    _ => continue,
                };
                for raw in String::from_utf8_lossy(&bytes).lines() {
                    let (ts, line) = raw.split_once(' ').unwrap_or(("", raw));
                    let time_ms = parse_timestamp_ms(ts).unwrap_or(0);
                    // `since` has whole seconds: skip what an earlier read already gave.
                    if since.is_some_and(|s| time_ms <= s) {
                        continue;
                    }
                    last = last.max(time_ms);
                    out.push(LogLine {
                        service: svc.clone(),
                        replica: replica.parse().unwrap_or(0),
                        stream: stream.into(),
                        time_ms,
                        line: line.to_string(),
                    });
                }
            }
            cursor.positions.insert(name, (last, 0));
        }
        out.sort_by_key(|l| l.time_ms);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamps_parse_to_milliseconds() {
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_timestamp_ms("2026-12-02T13:40:01.123456789Z"), Some(1_796_218_801_123));
        assert_eq!(parse_timestamp_ms("garbage"), None);
    }

    #[test]
    fn container_states_read_as_a_tenant_would() {
        let st = |status, code, oom| ContainerState {
            status: Some(status),
            exit_code: Some(code),
            oom_killed: Some(oom),
            ..ContainerState::default()
        };
        assert_eq!(replica_state(&st(ContainerStateStatusEnum::RUNNING, 0, false), 0, 5, 0).0, ReplicaState::Running);
        let (s, n, m) = replica_state(&st(ContainerStateStatusEnum::RESTARTING, 3, false), 2, 5, 0);
        assert_eq!((s, n), (ReplicaState::Restarting, 2));
        assert_eq!(m.as_deref(), Some("exited with code 3; restart 2 of 5"));
        let (s, _, m) = replica_state(&st(ContainerStateStatusEnum::EXITED, 137, true), 5, 5, 256 << 20);
        assert_eq!(s, ReplicaState::Failed);
        assert!(m.is_some_and(|m| m.contains("crash loop") && m.contains("out of memory") && m.contains("256Mi")));
    }
}
