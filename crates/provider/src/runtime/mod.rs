//! Runtimes run what a lease's manifest describes. The trait is what the lease manager needs from
//! any backend, shaped so a Kubernetes backend fits it: a lease is a namespace; `deploy` applies
//! the lease's services (Deployments or StatefulSets with their volumes, Services for ports) and
//! is idempotent (a manifest update re-applies); `status` reads replica state back; `logs` reads
//! container logs; `teardown` deletes the namespace and its volumes; `leases` lists what exists,
//! so a restarted provider adopts instead of recreating.
//!
//! [`host::HostRuntime`] is the embedded default: each replica is a process tree in a bubblewrap
//! sandbox under a supervisor process that outlives provider restarts.

pub mod host;
pub mod logs;
pub mod sandbox;
pub mod workload;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stratus_types::gateway::{LogLine, ServiceStatus};
use stratus_types::manifest::ManifestGroup;
use stratus_types::market::LeaseId;

use crate::inventory::Reservation;

/// What to run for one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDeployment {
    pub lease: LeaseId,
    pub group: ManifestGroup,
    pub reservation: Reservation,
    /// Host ports for forwarded service ports: `"<service>:<port>"` → host port.
    pub host_ports: BTreeMap<String, u16>,
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
    /// Creates or updates everything the lease runs. Idempotent.
    fn deploy(&self, d: &LeaseDeployment) -> Result<(), RuntimeError>;
    /// Service and replica state, with the URIs the world reaches them at.
    fn status(&self, d: &LeaseDeployment) -> Vec<ServiceStatus>;
    /// The last `tail` lines (all services, or one) and a cursor to read on from.
    fn logs(&self, lease: &LeaseId, service: Option<&str>, tail: usize) -> (Vec<LogLine>, LogCursor);
    /// Lines written since `cursor`.
    fn logs_since(&self, lease: &LeaseId, service: Option<&str>, cursor: &mut LogCursor) -> Vec<LogLine>;
    /// Stops everything and deletes the lease's data, volumes included.
    fn teardown(&self, lease: &LeaseId) -> Result<(), RuntimeError>;
    /// Leases that have something deployed.
    fn leases(&self) -> Vec<LeaseId>;
    /// A warning about what this runtime cannot enforce here (shown to operators and tenants).
    fn warning(&self) -> Option<String>;
    /// Why this runtime cannot run workloads at all (no sandbox tool, no engine): the provider
    /// then bids on nothing and records this as the reason.
    fn unavailable(&self) -> Option<String>;
}

/// Where a log reader stopped, per replica log.
#[derive(Clone, Debug, Default)]
pub struct LogCursor {
    pub positions: BTreeMap<String, (u64, u64)>,
}

/// A short, stable, path-safe name for a lease (like Akash's namespace hash).
pub fn lease_key(lease: &LeaseId) -> String {
    hex::encode(&Sha256::digest(lease.to_string().as_bytes())[..8])
}
