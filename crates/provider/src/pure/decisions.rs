//! Every order's decision, kept (in memory and appended to `decisions.jsonl`, so a restart keeps
//! them) and served by the gateway to the order's owner: the raw material for "why no bids".

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use stratus_types::gateway::Decision;
use stratus_types::market::{DeploymentId, OrderId};

/// Decisions kept in memory (the oldest go first).
const KEEP: usize = 10_000;

pub struct DecisionLog {
    path: PathBuf,
    by_order: BTreeMap<OrderId, Decision>,
}

impl DecisionLog {
    pub fn open(path: &Path) -> DecisionLog {
        let mut by_order = BTreeMap::new();
        if let Ok(f) = std::fs::File::open(path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Ok(d) = serde_json::from_str::<Decision>(&line) {
                    by_order.insert(d.order.clone(), d);
                }
            }
        }
        let mut log = DecisionLog { path: path.to_path_buf(), by_order };
        log.trim();
        log
    }

    fn trim(&mut self) {
        while self.by_order.len() > KEEP {
            let oldest = self.by_order.iter().min_by_key(|(_, d)| d.height).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.by_order.remove(&k),
                None => break,
            };
        }
    }

    pub fn record(&mut self, d: Decision) {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&self.path)
            && let Ok(line) = serde_json::to_string(&d)
        {
            let _ = writeln!(f, "{line}");
        }
        self.by_order.insert(d.order.clone(), d);
        self.trim();
    }

    pub fn get(&self, order: &OrderId) -> Option<&Decision> {
        self.by_order.get(order)
    }

    pub fn of_deployment(&self, id: &DeploymentId) -> Vec<Decision> {
        self.by_order.values().filter(|d| d.order.deployment() == *id).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use stratus_types::address::Address;

    use super::*;

    #[test]
    fn decisions_survive_a_reopen_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let order = OrderId { owner: Address([1; 20]), dseq: 5, gseq: 1, oseq: 1 };
        let d = |h: u64, reason: &str| Decision {
            order: order.clone(),
            provider: Address([2; 20]),
            height: h,
            time_ms: h,
            bid: None,
            reason: reason.into(),
        };
        let mut log = DecisionLog::open(&path);
        log.record(d(3, "insufficient capacity"));
        log.record(d(9, "needs gpu h200; has rtx4090"));
        let log = DecisionLog::open(&path);
        assert_eq!(log.get(&order).unwrap().reason, "needs gpu h200; has rtx4090");
        assert_eq!(log.of_deployment(&order.deployment()).len(), 1);
        assert!(log.of_deployment(&DeploymentId { owner: Address([1; 20]), dseq: 6 }).is_empty());
    }
}
