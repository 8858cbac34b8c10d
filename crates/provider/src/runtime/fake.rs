//! An in-memory [`Runtime`] for tests (a test double, named as such): deployments, replicas and
//! volume contents are maps; tests crash replicas and read counters (how often each replica
//! started) to check what the reconcile plan made happen.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use stratus_types::gateway::{LeaseEvent, LogLine, ReplicaState, ServiceStatus};
use stratus_types::market::LeaseId;

use crate::pure::reconcile::{ObservedLease, ObservedReplica};
use crate::runtime::{LeaseDeployment, LogCursor, Runtime, RuntimeError};

#[derive(Default)]
struct Inner {
    deployed: BTreeMap<LeaseId, (LeaseDeployment, Vec<ObservedReplica>)>,
    /// (lease, volume) → contents. Kept across deploys, dropped on teardown.
    volumes: BTreeMap<(LeaseId, String), String>,
    /// (lease, replica) → how many times it was started.
    starts: BTreeMap<(LeaseId, String), u32>,
    deploys: u32,
}

#[derive(Default)]
pub struct FakeRuntime {
    inner: Mutex<Inner>,
    /// Set to make the runtime unavailable.
    pub unavailable: Option<String>,
}

impl FakeRuntime {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes a replica exit (`code`) at `at_ms`, as the `crashes`-th quick exit in a row.
    pub fn crash(&self, lease: &LeaseId, replica: &str, code: i32, at_ms: u64, crashes: u32) {
        let mut inner = self.lock();
        if let Some((_, replicas)) = inner.deployed.get_mut(lease)
            && let Some(r) = replicas.iter_mut().find(|r| r.name == replica)
        {
            r.state = ReplicaState::Stopped;
            r.exit_code = Some(code);
            r.exited_at_ms = Some(at_ms);
            r.crashes = crashes;
            r.message = Some(format!("exited ({code})"));
        }
    }

    pub fn write_volume(&self, lease: &LeaseId, volume: &str, contents: &str) {
        self.lock().volumes.insert((lease.clone(), volume.to_string()), contents.to_string());
    }

    pub fn volume(&self, lease: &LeaseId, volume: &str) -> Option<String> {
        self.lock().volumes.get(&(lease.clone(), volume.to_string())).cloned()
    }

    pub fn starts(&self, lease: &LeaseId, replica: &str) -> u32 {
        self.lock().starts.get(&(lease.clone(), replica.to_string())).copied().unwrap_or(0)
    }

    pub fn deploys(&self) -> u32 {
        self.lock().deploys
    }

    pub fn is_deployed(&self, lease: &LeaseId) -> bool {
        self.lock().deployed.contains_key(lease)
    }
}

fn replica_names(d: &LeaseDeployment) -> Vec<String> {
    d.group.services.iter().flat_map(|s| (0..s.count).map(move |i| format!("{}-{i}", s.name))).collect()
}

impl Runtime for FakeRuntime {
    fn deploy(&self, d: &LeaseDeployment) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        inner.deploys += 1;
        let same = inner.deployed.get(&d.lease).is_some_and(|(old, _)| old.version() == d.version());
        if same {
            return Ok(());
        }
        // A new version replaces every replica (as a rolling update would); volumes stay.
        let replicas: Vec<ObservedReplica> = replica_names(d)
            .into_iter()
            .map(|name| ObservedReplica {
                name,
                state: ReplicaState::Running,
                crashes: 0,
                exited_at_ms: None,
                message: None,
                exit_code: None,
            })
            .collect();
        for r in &replicas {
            *inner.starts.entry((d.lease.clone(), r.name.clone())).or_insert(0) += 1;
        }
        inner.deployed.insert(d.lease.clone(), (d.clone(), replicas));
        Ok(())
    }

    fn observe(&self) -> BTreeMap<LeaseId, ObservedLease> {
        self.lock()
            .deployed
            .iter()
            .map(|(l, (d, replicas))| (l.clone(), ObservedLease { version: d.version(), replicas: replicas.clone() }))
            .collect()
    }

    fn restart(&self, lease: &LeaseId, replica: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        let Some((_, replicas)) = inner.deployed.get_mut(lease) else {
            return Err(RuntimeError::Invalid(format!("no lease {lease}")));
        };
        let Some(r) = replicas.iter_mut().find(|r| r.name == replica) else {
            return Err(RuntimeError::Invalid(format!("no replica {replica}")));
        };
        r.state = ReplicaState::Running;
        *inner.starts.entry((lease.clone(), replica.to_string())).or_insert(0) += 1;
        Ok(())
    }

    fn status(&self, _d: &LeaseDeployment) -> Vec<ServiceStatus> {
        Vec::new()
    }

    fn logs(&self, _lease: &LeaseId, _service: Option<&str>, _tail: usize) -> (Vec<LogLine>, LogCursor) {
        (Vec::new(), LogCursor::default())
    }

    fn logs_since(&self, _lease: &LeaseId, _service: Option<&str>, _cursor: &mut LogCursor) -> Vec<LogLine> {
        Vec::new()
    }

    fn events_since(&self, _lease: &LeaseId, _cursor: &mut LogCursor) -> Vec<LeaseEvent> {
        Vec::new()
    }

    fn teardown(&self, lease: &LeaseId) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        inner.deployed.remove(lease);
        inner.volumes.retain(|(l, _), _| l != lease);
        Ok(())
    }

    fn resume(&self) {}

    fn warning(&self) -> Option<String> {
        None
    }

    fn unavailable(&self) -> Option<String> {
        self.unavailable.clone()
    }
}
