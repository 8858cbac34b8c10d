//! The plan against an in-memory runtime: a small world that carries the plan's actions out as
//! the daemon does, block after block.

use std::collections::BTreeMap;

use stratus_types::address::Address;
use stratus_types::manifest::{ManifestGroup, Service};
use stratus_types::market::{CloseReason, LeaseId};

use super::*;
use crate::pure::inventory::Reservation;
use crate::runtime::Runtime;
use crate::runtime::fake::FakeRuntime;

const POLICY: Policy = Policy { manifest_timeout_blocks: 10, close_unstable_after_ms: 120_000, max_restarts: 5 };

fn lease(dseq: u64) -> LeaseId {
    stratus_types::market::DeploymentId { owner: Address([1; 20]), dseq }.group(1).order(1).bid(Address([2; 20]))
}

fn manifest(image: &str) -> ManifestGroup {
    ManifestGroup {
        name: "dc".into(),
        services: vec![Service { name: "web".into(), image: image.into(), count: 1, ..Service::default() }],
    }
}

struct World {
    runtime: FakeRuntime,
    records: BTreeMap<LeaseId, LeaseRecord>,
    active: Vec<LeaseId>,
    closed: Vec<(LeaseId, CloseReason, String)>,
    height: u64,
    now_ms: u64,
}

impl World {
    fn new() -> World {
        World {
            runtime: FakeRuntime::default(),
            records: BTreeMap::new(),
            active: Vec::new(),
            closed: Vec::new(),
            height: 1,
            now_ms: 1_000_000,
        }
    }

    fn plan(&self) -> Vec<Action> {
        let observed = self.runtime.observe();
        plan(&View {
            height: self.height,
            now_ms: self.now_ms,
            active: &self.active,
            records: &self.records,
            observed: &observed,
            policy: &POLICY,
        })
    }

    /// One block: plan, then carry every action out.
    fn block(&mut self) -> Vec<Action> {
        let actions = self.plan();
        for a in &actions {
            match a {
                Action::Adopt(l) => {
                    self.records.insert(l.clone(), LeaseRecord { won_at: self.height, ..record(l) });
                }
                Action::Deploy(l) => {
                    let d = self.records[l].deployment().expect("a manifest");
                    self.runtime.deploy(&d).expect("deploy");
                }
                Action::Restart { lease, replica } => self.runtime.restart(lease, replica).expect("restart"),
                Action::Teardown(l) => {
                    self.runtime.teardown(l).expect("teardown");
                    self.records.remove(l);
                }
                Action::Close { lease, reason, why } => {
                    self.active.retain(|a| a != lease);
                    self.closed.push((lease.clone(), *reason, why.clone()));
                }
                Action::MarkUnhealthy { lease, since_ms } => {
                    if let Some(r) = self.records.get_mut(lease) {
                        r.unhealthy_since_ms = *since_ms;
                    }
                }
            }
        }
        self.height += 1;
        self.now_ms += 1000;
        actions
    }

    /// A lease won, adopted, given a manifest of `image` and deployed: two blocks.
    fn running(&mut self, dseq: u64, image: &str) -> LeaseId {
        let l = lease(dseq);
        self.active.push(l.clone());
        self.block();
        self.send_manifest(&l, image);
        self.block();
        l
    }

    fn send_manifest(&mut self, l: &LeaseId, image: &str) {
        if let Some(r) = self.records.get_mut(l) {
            r.manifest = Some(manifest(image));
        }
    }
}

#[test]
fn a_new_lease_is_adopted_then_deployed_once_its_manifest_arrives() {
    let mut w = World::new();
    let l = lease(1);
    w.active.push(l.clone());
    assert_eq!(w.block(), vec![Action::Adopt(l.clone())]);
    assert_eq!(w.block(), vec![], "nothing to run before the manifest");
    w.send_manifest(&l, "nginx:1");
    assert_eq!(w.block(), vec![Action::Deploy(l.clone())]);
    assert!(w.runtime.is_deployed(&l));
    assert_eq!(w.block(), vec![], "up to date: nothing more");
    assert_eq!(w.runtime.starts(&l, "web-0"), 1);
}

#[test]
fn a_closed_lease_is_torn_down_with_its_volumes() {
    let mut w = World::new();
    let l = w.running(1, "nginx:1");
    w.runtime.write_volume(&l, "data", "precious");
    w.active.clear();
    assert_eq!(w.block(), vec![Action::Teardown(l.clone())]);
    assert!(!w.runtime.is_deployed(&l) && w.records.is_empty());
    assert_eq!(w.runtime.volume(&l, "data"), None);
    // A teardown interrupted by a crash (the record gone, the runtime still holding the lease)
    // is finished on the next block.
    w.runtime.deploy(&LeaseRecord { manifest: Some(manifest("x")), ..record(&l) }.deployment().expect("d")).ok();
    assert_eq!(w.block(), vec![Action::Teardown(l.clone())]);
    assert!(!w.runtime.is_deployed(&l));
}

/// A lease's record as adoption makes it: capacity reserved, no manifest yet.
fn record(l: &LeaseId) -> LeaseRecord {
    LeaseRecord {
        lease: l.clone(),
        reservation: Reservation {
            order: l.order(),
            replicas: vec![],
            persistent: vec![],
            unit_gpus: vec![],
            allocated: true,
        },
        won_at: 1,
        manifest: None,
        host_ports: BTreeMap::new(),
        unhealthy_since_ms: None,
    }
}

#[test]
fn a_restarted_provider_re_adopts_without_restarting_anything() {
    let mut w = World::new();
    let l = w.running(1, "nginx:1");
    let deploys = w.runtime.deploys();
    // The provider restarts: its records come back from its store, the runtime kept running.
    let records = w.records.clone();
    w.records = records;
    for _ in 0..3 {
        assert_eq!(w.block(), vec![]);
    }
    assert_eq!((w.runtime.deploys(), w.runtime.starts(&l, "web-0")), (deploys, 1), "nothing redeployed or restarted");
}

#[test]
fn a_crashed_replica_restarts_after_its_back_off_and_a_crash_loop_closes_the_lease() {
    let mut w = World::new();
    let l = w.running(1, "python:3");
    // First quick exit: back-off 0.5 s. Not yet at the exit's instant, due a block later.
    w.runtime.crash(&l, "web-0", 3, w.now_ms, 1);
    let plan = w.plan();
    assert!(!plan.iter().any(|a| matches!(a, Action::Restart { .. })), "restarted before its back-off: {plan:?}");
    assert!(plan.contains(&Action::MarkUnhealthy { lease: l.clone(), since_ms: Some(w.now_ms) }));
    w.now_ms += 600;
    assert!(w.block().contains(&Action::Restart { lease: l.clone(), replica: "web-0".into() }));
    assert_eq!(w.runtime.starts(&l, "web-0"), 2);
    // Back up: healthy again.
    assert_eq!(w.block(), vec![Action::MarkUnhealthy { lease: l.clone(), since_ms: None }]);
    // A fourth crash waits 4 s.
    w.runtime.crash(&l, "web-0", 3, w.now_ms, 4);
    w.now_ms += 3000;
    assert!(!w.plan().iter().any(|a| matches!(a, Action::Restart { .. })));
    w.now_ms += 1500;
    assert!(w.plan().contains(&Action::Restart { lease: l.clone(), replica: "web-0".into() }));
    // The fifth in a row is a crash loop: the lease is closed, with the reason.
    w.runtime.crash(&l, "web-0", 3, w.now_ms, 5);
    let actions = w.block();
    let Some(Action::Close { reason, why, .. }) = actions.first() else { panic!("{actions:?}") };
    assert_eq!(*reason, CloseReason::WorkloadFailed);
    assert!(why.contains("crash loop"), "{why}");
    // Closed on the ledger: torn down next.
    assert_eq!(w.block(), vec![Action::Teardown(l.clone())]);
}

#[test]
fn a_failed_replica_or_a_missing_manifest_closes_the_lease() {
    let mut w = World::new();
    let l = lease(1);
    w.active.push(l.clone());
    w.block();
    w.height += POLICY.manifest_timeout_blocks;
    let actions = w.block();
    assert!(matches!(&actions[..], [Action::Close { reason: CloseReason::ManifestTimeout, .. }]), "{actions:?}");

    let l2 = w.running(2, "nginx:1");
    w.runtime.crash(&l2, "web-0", 127, w.now_ms, 1);
    let actions = w.block();
    assert!(matches!(&actions[..], [Action::Close { reason: CloseReason::WorkloadFailed, .. }]), "{actions:?}");
}

#[test]
fn a_replica_down_too_long_closes_the_lease_as_unstable() {
    let mut w = World::new();
    let l = w.running(1, "nginx:1");
    // Exits once, and its restart never comes up (the runtime keeps it restarting).
    w.runtime.crash(&l, "web-0", 1, w.now_ms, 1);
    w.block();
    w.now_ms += 1000;
    w.block();
    w.runtime.crash(&l, "web-0", 1, w.now_ms, 2);
    w.now_ms += POLICY.close_unstable_after_ms;
    let actions = w.plan();
    assert!(actions.iter().any(|a| matches!(a, Action::Close { reason: CloseReason::Unstable, .. })), "{actions:?}");
}

#[test]
fn a_manifest_update_redeploys_and_keeps_volumes() {
    let mut w = World::new();
    let l = w.running(1, "app:1");
    w.runtime.write_volume(&l, "data", "kept");
    w.send_manifest(&l, "app:2");
    assert_eq!(w.block(), vec![Action::Deploy(l.clone())]);
    assert_eq!(w.runtime.starts(&l, "web-0"), 2, "the new version started");
    assert_eq!(w.runtime.volume(&l, "data").as_deref(), Some("kept"));
    assert_eq!(w.block(), vec![]);
}
