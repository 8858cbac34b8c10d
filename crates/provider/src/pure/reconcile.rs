//! The reconcile plan: what the provider must do so that what runs matches what the ledger says.
//!
//! A pure function of three views — the ledger's (this provider's active leases), the provider's
//! own lease records, and what the runtime observes — plus the height and the time, to a list of
//! [`Action`]s. The daemon gathers the views every block and carries the actions out; the tests
//! below drive the plan against an in-memory runtime ([`crate::runtime::fake`]).
//!
//! The rules, in the order they apply to a lease:
//! - on the ledger, not recorded → [`Action::Adopt`] (reserve its capacity, wait for the manifest);
//! - recorded or running, not on the ledger → [`Action::Teardown`] (this also finishes a teardown a
//!   crash interrupted: the runtime still lists the lease);
//! - recorded without a manifest past `manifest_timeout_blocks` → close (`manifest_timeout`);
//! - recorded with a manifest the runtime does not run (never deployed, lost, or an older
//!   version) → [`Action::Deploy`], which keeps volumes; the same version running → nothing, so a
//!   restarted provider re-adopts without restarting anything;
//! - a replica `failed`, or exited past the crash-loop limit → close (`workload_failed`);
//! - a replica exited (`stopped`) → [`Action::Restart`] once its back-off is over;
//! - not all running for `close_unstable_after_ms` → close (`unstable`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_types::gateway::ReplicaState;
use stratus_types::manifest::ManifestGroup;
use stratus_types::market::{CloseReason, LeaseId};

use crate::pure::inventory::Reservation;
use crate::pure::restart::{AfterExit, after_exit};
use crate::runtime::LeaseDeployment;

/// What the provider keeps about a lease it won, in its own store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub lease: LeaseId,
    pub reservation: Reservation,
    pub won_at: u64,
    pub manifest: Option<ManifestGroup>,
    pub host_ports: BTreeMap<String, u16>,
    /// Since when not every replica has been running (for closing unstable leases).
    pub unhealthy_since_ms: Option<u64>,
}

impl LeaseRecord {
    pub fn deployment(&self) -> Option<LeaseDeployment> {
        Some(LeaseDeployment {
            lease: self.lease.clone(),
            group: self.manifest.clone()?,
            reservation: self.reservation.clone(),
            host_ports: self.host_ports.clone(),
        })
    }
}

/// One replica as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedReplica {
    /// `<service>-<index>`.
    pub name: String,
    pub state: ReplicaState,
    /// Runs in a row that ended within [`crate::pure::restart::CRASH_WINDOW`] of starting (for `stopped` replicas).
    pub crashes: u32,
    /// When it last exited, for the back-off (for `stopped` replicas).
    pub exited_at_ms: Option<u64>,
    /// How it last ended, or why it cannot run.
    pub message: Option<String>,
    pub exit_code: Option<i32>,
}

/// One lease as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedLease {
    /// [`LeaseDeployment::version`] of what it runs.
    pub version: String,
    pub replicas: Vec<ObservedReplica>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub manifest_timeout_blocks: u64,
    /// 0: never close for instability.
    pub close_unstable_after_ms: u64,
    pub max_restarts: u32,
}

pub struct View<'a> {
    pub height: u64,
    pub now_ms: u64,
    /// This provider's active leases on the ledger.
    pub active: &'a [LeaseId],
    pub records: &'a BTreeMap<LeaseId, LeaseRecord>,
    pub observed: &'a BTreeMap<LeaseId, ObservedLease>,
    pub policy: &'a Policy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Record a lease won on the ledger and reserve its capacity; it waits for the manifest.
    Adopt(LeaseId),
    /// Apply the recorded deployment (new, changed or lost). Idempotent; volumes are kept.
    Deploy(LeaseId),
    /// Start one exited replica again, its back-off over.
    Restart { lease: LeaseId, replica: String },
    /// Stop everything, delete the lease's data and forget its record.
    Teardown(LeaseId),
    /// Close the lease on the ledger, saying why.
    Close { lease: LeaseId, reason: CloseReason, why: String },
    /// Record since when the lease has not been fully running (`None`: healthy again).
    MarkUnhealthy { lease: LeaseId, since_ms: Option<u64> },
}

pub fn plan(v: &View<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    for lease in v.active {
        if !v.records.contains_key(lease) {
            actions.push(Action::Adopt(lease.clone()));
        }
    }
    let ended = v.records.keys().chain(v.observed.keys()).filter(|l| !v.active.contains(l));
    let mut torn = Vec::new();
    for lease in ended {
        if !torn.contains(&lease) {
            torn.push(lease);
            actions.push(Action::Teardown(lease.clone()));
        }
    }
    for (lease, record) in v.records.iter().filter(|(l, _)| v.active.contains(l)) {
        actions.extend(plan_lease(v, lease, record));
    }
    actions
}

fn close(lease: &LeaseId, reason: CloseReason, why: String) -> Action {
    Action::Close { lease: lease.clone(), reason, why }
}

fn plan_lease(v: &View<'_>, lease: &LeaseId, record: &LeaseRecord) -> Vec<Action> {
    let Some(deployment) = record.deployment() else {
        if record.won_at + v.policy.manifest_timeout_blocks <= v.height {
            let why = format!("no manifest within {} blocks", v.policy.manifest_timeout_blocks);
            return vec![close(lease, CloseReason::ManifestTimeout, why)];
        }
        return Vec::new();
    };
    let Some(observed) = v.observed.get(lease).filter(|o| o.version == deployment.version()) else {
        return vec![Action::Deploy(lease.clone())];
    };
    let mut actions = Vec::new();
    for r in &observed.replicas {
        let why = r.message.clone().unwrap_or_else(|| "it cannot run".into());
        match r.state {
            ReplicaState::Failed => {
                return vec![close(lease, CloseReason::WorkloadFailed, format!("{}: {why}", r.name))];
            }
            ReplicaState::Stopped => {
                let sandbox_error = why.starts_with("bwrap:");
                match after_exit(r.crashes, v.policy.max_restarts, r.exit_code, &why, sandbox_error) {
                    AfterExit::Fail(why) => {
                        return vec![close(lease, CloseReason::WorkloadFailed, format!("{}: {why}", r.name))];
                    }
                    AfterExit::Restart { backoff } => {
                        let due = r.exited_at_ms.map_or(0, |t| t + backoff.as_millis() as u64);
                        // An operator's stop (no crash) restarts at once.
                        if r.crashes == 0 || due <= v.now_ms {
                            actions.push(Action::Restart { lease: lease.clone(), replica: r.name.clone() });
                        }
                    }
                }
            }
            ReplicaState::Starting | ReplicaState::Running | ReplicaState::Restarting => {}
        }
    }
    // Starting is not unhealthy (a replica gets time to come up); exited and restarting are.
    let unhealthy =
        observed.replicas.iter().any(|r| matches!(r.state, ReplicaState::Restarting | ReplicaState::Stopped));
    match (unhealthy, record.unhealthy_since_ms) {
        (false, Some(_)) => actions.push(Action::MarkUnhealthy { lease: lease.clone(), since_ms: None }),
        (true, None) => actions.push(Action::MarkUnhealthy { lease: lease.clone(), since_ms: Some(v.now_ms) }),
        (true, Some(since))
            if v.policy.close_unstable_after_ms > 0
                && v.now_ms.saturating_sub(since) > v.policy.close_unstable_after_ms =>
        {
            let last = observed.replicas.iter().find_map(|r| r.message.clone()).unwrap_or_default();
            let why = format!("not running for {} s: {last}", v.policy.close_unstable_after_ms / 1000);
            return vec![close(lease, CloseReason::Unstable, why)];
        }
        _ => {}
    }
    actions
}

#[cfg(test)]
mod tests;
