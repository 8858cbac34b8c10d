//! The provider gateway's wire types (JSON), shared by the provider that serves them and the
//! clients that read them.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::group::DecCoin;
use crate::market::{LeaseId, OrderId};

/// `GET /status` (unauthenticated): what the provider can still take.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStatus {
    pub address: String,
    pub version: String,
    /// Last ledger height the provider reconciled at.
    pub height: u64,
    pub active_leases: usize,
    pub open_bids: usize,
    pub inventory: InventoryStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryStatus {
    pub nodes: usize,
    pub cpu_millis_total: u64,
    pub cpu_millis_free: u64,
    pub memory_total: u64,
    pub memory_free: u64,
    pub ephemeral_total: u64,
    pub ephemeral_free: u64,
    pub gpus: Vec<GpuAvailability>,
    pub storage: Vec<StoragePool>,
    /// The same, node by node: where the free GPUs are (what a replica, which runs on one node,
    /// can actually get).
    #[serde(default)]
    pub by_node: Vec<NodeInventory>,
}

/// One node's capacity and what is free on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInventory {
    pub name: String,
    pub cpu_millis_total: u64,
    pub cpu_millis_free: u64,
    pub memory_total: u64,
    pub memory_free: u64,
    /// Per GPU model on the node; `largest_replica` is its free count, or 0 when the node has no
    /// CPU or memory left for a replica.
    pub gpus: Vec<GpuAvailability>,
    /// GPUs withdrawn from new work for their health.
    pub withdrawn: u32,
}

/// GPUs of one model (and memory size and interface).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuAvailability {
    pub model: String,
    pub ram_gi: u32,
    pub interface: String,
    pub total: u32,
    pub free: u32,
    /// The most GPUs of this model one new replica can still get (all on one node, with CPU
    /// and memory left on that node). Fragmentation makes it smaller than `free`.
    pub largest_replica: u32,
}

/// A persistent storage class pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePool {
    pub class: String,
    pub total: u64,
    pub free: u64,
}

/// What the bid engine decided about one order, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub order: OrderId,
    pub provider: Address,
    /// Ledger height when decided.
    pub height: u64,
    pub time_ms: u64,
    /// The price bid, per block; `None` for a decline.
    pub bid: Option<DecCoin>,
    /// Why the provider declined (one sentence), or what the bid offers.
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseRunState {
    /// Won; waiting for the tenant's manifest.
    AwaitingManifest,
    Deploying,
    Running,
    /// Some replicas are not running.
    Degraded,
    /// Nothing runs (for example, an image the runtime cannot run).
    Failed,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseStatus {
    pub lease: LeaseId,
    pub state: LeaseRunState,
    pub message: Option<String>,
    pub services: Vec<ServiceStatus>,
    /// The lease's own GPUs, now (temperature, power, utilisation, memory, health).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<crate::telemetry::LeaseGpu>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    Starting,
    Running,
    /// Exited; restarting after a back-off.
    Restarting,
    /// Cannot run at all; will not be retried.
    Failed,
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub index: u32,
    pub state: ReplicaState,
    pub restarts: u32,
    pub message: Option<String>,
}

/// A service port reachable from outside the lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedPort {
    /// The port the service listens on.
    pub port: u32,
    /// The port the SDL asked the world to see (`as`).
    pub external_port: u32,
    pub proto: String,
    pub host: String,
    pub host_port: u16,
    pub global: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub image: String,
    pub total: u32,
    pub available: u32,
    /// Where the world reaches it (`http://host:port` for HTTP ports).
    pub uris: Vec<String>,
    pub ports: Vec<ForwardedPort>,
    pub replicas: Vec<ReplicaStatus>,
}

/// One line a workload wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub service: String,
    pub replica: u32,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub time_ms: u64,
    pub line: String,
}

/// Something that happened to a lease (manifest, deploy, replica exits and restarts, close).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseEvent {
    pub time_ms: u64,
    pub kind: String,
    pub message: String,
}

/// A frame of a log or event stream (newline-delimited JSON). Heartbeats come every few seconds
/// when nothing else does, so a client can tell a quiet stream from a dead one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamFrame {
    Log(LogLine),
    Event(LeaseEvent),
    Heartbeat { time_ms: u64 },
}

/// `PUT /deployment/{owner}/{dseq}/manifest` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAccepted {
    pub leases: Vec<LeaseId>,
}
