//! Runtimes run what a lease's manifest describes. [`Runtime`] is the provider's boundary to
//! them: the daemon holds an `Arc<dyn Runtime>` and knows nothing else about a backend. It is
//! shaped so a Kubernetes backend fits: a lease is a namespace; `deploy` applies the lease's
//! services (Deployments or StatefulSets with their volumes, Services for ports) and is
//! idempotent (a manifest update re-applies, volumes stay); `observe` reads what runs back, with
//! the version of the deployment it runs; `logs` reads container logs; `teardown` deletes the
//! namespace and its volumes, and is finished on the next start if interrupted.
//!
//! What a runtime owns it keeps to itself: the provider's lease records and event log live in the
//! provider's store ([`crate::effects::store`]), which no runtime opens, and no runtime's files
//! are opened by the daemon or the gateway. Log cursors are opaque.
//!
//! [`host::HostRuntime`] is the embedded default: each replica is a process tree in a bubblewrap
//! sandbox under a supervisor process that outlives provider restarts. [`fake::FakeRuntime`]
//! (tests, or the `testkit` feature) keeps everything in memory.

pub mod container;
#[cfg(any(test, feature = "testkit"))]
pub mod fake;
pub mod host;
pub mod logs;
pub mod sandbox;
pub mod workload;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stratus_types::gateway::{ForwardedPort, LeaseEvent, LogLine, ReplicaState, ReplicaStatus, ServiceStatus};
use stratus_types::manifest::ManifestGroup;
use stratus_types::manifest::Protocol;
use stratus_types::market::LeaseId;

use crate::pure::inventory::Reservation;
use crate::pure::reconcile::ObservedLease;

/// What to run for one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDeployment {
    pub lease: LeaseId,
    pub group: ManifestGroup,
    pub reservation: Reservation,
    /// Host ports for forwarded service ports: `"<service>:<port>"` → host port.
    pub host_ports: BTreeMap<String, u16>,
}

impl LeaseDeployment {
    /// Names what is deployed: a runtime reports it back, so the reconcile plan can tell a
    /// deployment that is up to date from one to (re)apply.
    pub fn version(&self) -> String {
        hex::encode(&Sha256::digest(serde_json::to_vec(self).unwrap_or_default())[..16])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Invalid(String),
    #[error("runtime I/O: {0}")]
    Io(String),
}

impl From<std::io::Error> for RuntimeError {
    fn from(e: std::io::Error) -> RuntimeError {
        RuntimeError::Io(e.to_string())
    }
}

pub trait Runtime: Send + Sync {
    /// Creates or updates everything the lease runs. Idempotent; volumes are kept.
    fn deploy(&self, d: &LeaseDeployment) -> Result<(), RuntimeError>;
    /// What runs, per lease: the deployed version and each replica's state.
    fn observe(&self) -> BTreeMap<LeaseId, ObservedLease>;
    /// Starts one exited replica again (the reconcile plan decides when).
    fn restart(&self, lease: &LeaseId, replica: &str) -> Result<(), RuntimeError>;
    /// Service and replica state, with the URIs the world reaches them at.
    fn status(&self, d: &LeaseDeployment) -> Vec<ServiceStatus>;
    /// The last `tail` lines (all services, or one) and a cursor to read on from.
    fn logs(&self, lease: &LeaseId, service: Option<&str>, tail: usize) -> (Vec<LogLine>, LogCursor);
    /// Lines written since `cursor`.
    fn logs_since(&self, lease: &LeaseId, service: Option<&str>, cursor: &mut LogCursor) -> Vec<LogLine>;
    /// The runtime's own events about a lease (replicas started, exited, failed) since `cursor`.
    fn events_since(&self, lease: &LeaseId, cursor: &mut LogCursor) -> Vec<LeaseEvent>;
    /// Stops everything and deletes the lease's data, volumes included.
    fn teardown(&self, lease: &LeaseId) -> Result<(), RuntimeError>;
    /// After a provider restart: re-attaches what the runtime serves from the provider's process
    /// (the host runtime's port forwarders). Restarts nothing.
    fn resume(&self);
    /// A warning about what this runtime cannot enforce here (shown to operators and tenants).
    fn warning(&self) -> Option<String>;
    /// Why this runtime cannot run workloads at all (no sandbox tool, no engine): the provider
    /// then bids on nothing and records this as the reason.
    fn unavailable(&self) -> Option<String>;
}

/// Writes a runtime's own record of what it deployed into `dir` (atomically): the version
/// `observe` reports comes from it.
pub(crate) fn write_deployment(dir: &std::path::Path, d: &LeaseDeployment) -> Result<(), RuntimeError> {
    let text = serde_json::to_vec_pretty(d).map_err(|e| RuntimeError::Io(e.to_string()))?;
    let tmp = dir.join("deployment.json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join("deployment.json"))?;
    Ok(())
}

pub(crate) fn read_deployment(dir: &std::path::Path) -> Option<LeaseDeployment> {
    serde_json::from_slice(&std::fs::read(dir.join("deployment.json")).ok()?).ok()
}

/// Every deployment recorded in the lease directories under `root`.
pub(crate) fn read_deployments(root: &std::path::Path) -> Vec<LeaseDeployment> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    entries.flatten().filter_map(|e| read_deployment(&e.path())).collect()
}

/// The runtime's event log of a lease (`path`) read on from `cursor`.
pub(crate) fn events_since(path: &std::path::Path, cursor: &mut LogCursor) -> Vec<LeaseEvent> {
    let position = cursor.positions.entry("events".into()).or_insert((0, 0));
    let mut offset = position.1 as usize;
    let events = workload::read_events_since(path, &mut offset);
    position.1 = offset as u64;
    events
}

/// A service's status from its replicas' states: how many are available, and where it is published.
pub(crate) fn service_status(
    d: &LeaseDeployment,
    svc: &stratus_types::manifest::Service,
    replicas: Vec<ReplicaStatus>,
    public_host: &str,
) -> ServiceStatus {
    let (uris, ports) = published(d, &svc.name, public_host);
    ServiceStatus {
        name: svc.name.clone(),
        image: svc.image.clone(),
        total: svc.count,
        available: replicas.iter().filter(|r| r.state == ReplicaState::Running).count() as u32,
        uris,
        ports,
        replicas,
    }
}

/// Where the manifest mounts each of a service's named volumes: name → (mount path, read-only).
pub(crate) fn volume_mounts(svc: &stratus_types::manifest::Service) -> BTreeMap<String, (String, bool)> {
    svc.params
        .as_ref()
        .and_then(|p| p.storage.as_ref())
        .map(|v| v.iter().map(|s| (s.name.clone(), (s.mount.clone(), s.read_only))).collect())
        .unwrap_or_default()
}

/// Where the world reaches `service`'s globally exposed ports: its URIs (`http://` for port 80)
/// and the forwarded ports, from the host ports the provider assigned.
pub fn published(d: &LeaseDeployment, service: &str, public_host: &str) -> (Vec<String>, Vec<ForwardedPort>) {
    let (mut uris, mut ports) = (Vec::new(), Vec::new());
    for (svc, port, external, proto) in host::global_ports(&d.group) {
        if svc != service {
            continue;
        }
        let Some(host_port) = d.host_ports.get(&format!("{svc}:{port}")).copied() else { continue };
        uris.push(if external == 80 && proto == Protocol::Tcp {
            format!("http://{public_host}:{host_port}")
        } else {
            format!("{public_host}:{host_port}")
        });
        ports.push(ForwardedPort {
            port,
            external_port: external,
            proto: proto.as_str().to_string(),
            host: public_host.to_string(),
            host_port,
            global: true,
        });
    }
    (uris, ports)
}

/// Where a log or event reader stopped. Opaque: only the runtime that made it reads it.
#[derive(Clone, Debug, Default)]
pub struct LogCursor {
    pub(crate) positions: BTreeMap<String, (u64, u64)>,
}

/// A short, stable, path-safe name for a lease (like Akash's namespace hash).
pub fn lease_key(lease: &LeaseId) -> String {
    hex::encode(&Sha256::digest(lease.to_string().as_bytes())[..8])
}
