//! The provider's own lease store: one record per lease it won, and the lease's event log (what
//! the provider did: won, manifest accepted, closed and why). Files under `<data>/provider/`,
//! written atomically; no runtime and no gateway opens them by path — they go through this.
//!
//! A record that cannot be read is reported and left where it is (never deleted): a provider
//! that starts with it missing would not re-adopt that lease, and an operator must see why.

use std::fs;
use std::path::{Path, PathBuf};

use stratus_types::gateway::LeaseEvent;
use stratus_types::market::LeaseId;

use crate::pure::reconcile::LeaseRecord;
use crate::runtime::lease_key;
use crate::runtime::workload::{append_event, read_events_since};

pub struct LeaseStore {
    records: PathBuf,
    events: PathBuf,
}

/// Where an event reader stopped. Opaque.
#[derive(Clone, Debug, Default)]
pub struct EventCursor(usize);

impl LeaseStore {
    pub fn open(data_dir: &Path) -> std::io::Result<LeaseStore> {
        let root = data_dir.join("provider");
        let store = LeaseStore { records: root.join("leases"), events: root.join("events") };
        fs::create_dir_all(&store.records)?;
        fs::create_dir_all(&store.events)?;
        store.migrate(data_dir);
        Ok(store)
    }

    /// Providers before this store kept `lease.json` inside the host runtime's lease directory:
    /// carry those records over once, so an upgraded provider re-adopts its leases.
    fn migrate(&self, data_dir: &Path) {
        let Ok(entries) = fs::read_dir(data_dir.join("leases")) else { return };
        for e in entries.flatten() {
            let old = e.path().join("lease.json");
            let Ok(bytes) = fs::read(&old) else { continue };
            let Ok(record) = serde_json::from_slice::<LeaseRecord>(&bytes) else { continue };
            if !self.record_path(&record.lease).exists() && self.save(&record).is_ok() {
                let _ = fs::remove_file(&old);
            }
        }
    }

    fn record_path(&self, lease: &LeaseId) -> PathBuf {
        self.records.join(format!("{}.json", lease_key(lease)))
    }

    fn events_path(&self, lease: &LeaseId) -> PathBuf {
        self.events.join(format!("{}.jsonl", lease_key(lease)))
    }

    pub fn save(&self, r: &LeaseRecord) -> std::io::Result<()> {
        let path = self.record_path(&r.lease);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(r)?)?;
        fs::rename(&tmp, &path)
    }

    /// Every readable record; the unreadable ones are named in the second list, with why.
    pub fn load_all(&self) -> (Vec<LeaseRecord>, Vec<String>) {
        let (mut records, mut problems) = (Vec::new(), Vec::new());
        let Ok(entries) = fs::read_dir(&self.records) else { return (records, problems) };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => records.push(r),
                Err(why) => problems.push(format!("{}: {why}", path.display())),
            }
        }
        (records, problems)
    }

    /// Forgets a lease: its record and its event log.
    pub fn remove(&self, lease: &LeaseId) {
        let _ = fs::remove_file(self.record_path(lease));
        let _ = fs::remove_file(self.events_path(lease));
    }

    pub fn append_event(&self, lease: &LeaseId, kind: &str, message: String) {
        append_event(&self.events_path(lease), kind, message);
    }

    /// Events appended since `cursor` (complete lines only), moving it on.
    pub fn events_since(&self, lease: &LeaseId, cursor: &mut EventCursor) -> Vec<LeaseEvent> {
        read_events_since(&self.events_path(lease), &mut cursor.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use stratus_types::address::Address;
    use stratus_types::market::DeploymentId;

    use super::*;
    use crate::pure::inventory::Reservation;

    fn record(dseq: u64) -> LeaseRecord {
        let lease = DeploymentId { owner: Address([1; 20]), dseq }.group(1).order(1).bid(Address([2; 20]));
        LeaseRecord {
            reservation: Reservation {
                order: lease.order(),
                replicas: vec![],
                persistent: vec![],
                unit_gpus: vec![],
                allocated: true,
            },
            lease,
            won_at: 3,
            manifest: None,
            host_ports: BTreeMap::new(),
            unhealthy_since_ms: None,
        }
    }

    #[test]
    fn records_and_events_survive_reopening_and_bad_files_are_reported_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = LeaseStore::open(dir.path()).unwrap();
        let (a, b) = (record(1), record(2));
        store.save(&a).unwrap();
        store.save(&b).unwrap();
        store.append_event(&a.lease, "lease_won", "won".into());
        let mut cursor = EventCursor::default();
        assert_eq!(store.events_since(&a.lease, &mut cursor).len(), 1);
        store.append_event(&a.lease, "manifest", "accepted".into());
        let more = store.events_since(&a.lease, &mut cursor);
        assert_eq!(more.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["manifest"]);

        let bad = dir.path().join("provider/leases/garbage.json");
        fs::write(&bad, b"{not json").unwrap();
        let store = LeaseStore::open(dir.path()).unwrap();
        let (mut records, problems) = store.load_all();
        records.sort_by_key(|r| r.lease.dseq);
        assert_eq!(records, vec![a.clone(), b]);
        assert!(problems.len() == 1 && problems[0].contains("garbage.json"), "{problems:?}");
        assert!(bad.exists(), "an unreadable record is left for the operator");

        store.remove(&a.lease);
        assert_eq!(store.load_all().0.len(), 1);
        assert!(store.events_since(&a.lease, &mut EventCursor::default()).is_empty());
    }

    #[test]
    fn records_kept_by_older_providers_in_the_runtime_directory_are_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let r = record(7);
        let old = dir.path().join("leases").join(lease_key(&r.lease));
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("lease.json"), serde_json::to_vec(&r).unwrap()).unwrap();
        let store = LeaseStore::open(dir.path()).unwrap();
        assert_eq!(store.load_all().0, vec![r]);
        assert!(!old.join("lease.json").exists());
    }
}
