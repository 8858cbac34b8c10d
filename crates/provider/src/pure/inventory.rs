//! What the provider has, what it has promised, and where each replica goes.
//!
//! Plain data, no I/O. A replica fits a node when its CPU, memory (plus its `ram` volumes, which
//! live in memory), ephemeral storage and all of its GPUs fit on that one node; persistent volumes
//! come from cluster-wide pools per storage class (as in Akash). All replicas of one resource unit
//! get the same GPU model. Reservations are made when bidding and released when the bid is lost,
//! closed or times out, or when the lease ends.
//!
//! Placement is best-fit: big replicas first, each on the node it leaves fullest, and replicas
//! without GPUs kept off nodes with free GPUs. Akash places greedily first-fit, which strands GPUs
//! behind CPU-only work and splits nodes; `stratus bench packing` compares the two
//! ([`Strategy::FirstFit`] is kept for that).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_types::gateway::{GpuAvailability, InventoryStatus, NodeInventory, StoragePool};
use stratus_types::gpu::canonical_model;
use stratus_types::group::GroupSpec;
use stratus_types::market::OrderId;
use stratus_types::units::format_bytes;

/// Akash's `MaxGroupVolumes`: volumes one replica may mount.
pub const MAX_VOLUMES: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GpuDevice {
    /// Canonical model (`h100`).
    pub model: String,
    pub ram_gi: u32,
    /// `sxm` or `pcie`.
    pub interface: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub cpu_millis: u64,
    pub memory: u64,
    pub ephemeral: u64,
    pub gpus: Vec<GpuDevice>,
}

/// Everything the provider offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub nodes: Vec<NodeSpec>,
    /// Persistent storage pools: class → bytes.
    pub persistent: BTreeMap<String, u64>,
    /// Whether `ram` volumes (memory-backed, e.g. `/dev/shm`) are offered.
    pub ram: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    BestFit,
    /// Akash's placement, for comparison.
    FirstFit,
}

/// Where one replica runs and what it holds there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaPlacement {
    /// The resource unit's id in the group.
    pub unit: u32,
    /// Replica index within the unit.
    pub index: u32,
    pub node: String,
    /// Indices into the node's `gpus`.
    pub gpus: Vec<usize>,
    pub cpu_millis: u64,
    pub memory: u64,
    pub ephemeral: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order: OrderId,
    pub replicas: Vec<ReplicaPlacement>,
    /// Persistent storage taken from pools: (class, bytes).
    pub persistent: Vec<(String, u64)>,
    /// The GPU each unit got (for pricing and the bid's offer).
    pub unit_gpus: Vec<(u32, GpuDevice)>,
    /// False while only bid on; true once leased.
    pub allocated: bool,
}

/// Why a group does not fit. Each says what was needed and what is there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("needs gpu {wants}; has {has}")]
    GpuModel { wants: String, has: String },
    #[error("volume {volume} needs storage class {class}, which this provider does not offer")]
    StorageClass { volume: String, class: String },
    #[error("volume {volume} needs memory-backed (ram) storage, which this provider does not offer")]
    Ram { volume: String },
    #[error("a replica mounts {count} volumes; at most {MAX_VOLUMES} are allowed")]
    TooManyVolumes { count: usize },
    #[error("persistent storage class {class}: needs {need}, {free} free")]
    Pool { class: String, need: String, free: String },
    #[error("insufficient capacity: {0}")]
    Capacity(String),
    #[error("order {0} already holds a reservation")]
    Duplicate(OrderId),
}

/// What one replica needs.
#[derive(Clone, Debug)]
struct Demand {
    unit: u32,
    index: u32,
    cpu: u64,
    memory: u64,
    ephemeral: u64,
    gpus: u32,
    filters: Vec<GpuFilter>,
}

/// One acceptable GPU: model (`None` = any), memory and interface when required.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GpuFilter {
    model: Option<String>,
    ram_gi: Option<u32>,
    interface: Option<String>,
}

impl GpuFilter {
    /// `vendor/nvidia/model/<m>[/ram/<n>Gi][/interface/<i>]`.
    fn parse(key: &str) -> Option<GpuFilter> {
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() < 4 || parts[0] != "vendor" || parts[2] != "model" {
            return None;
        }
        let model = (parts[3] != "*").then(|| canonical_model(parts[3]));
        let mut f = GpuFilter { model, ram_gi: None, interface: None };
        let mut rest = parts[4..].chunks(2);
        for pair in rest.by_ref() {
            match pair {
                ["ram", v] => f.ram_gi = v.trim_end_matches("Gi").parse().ok(),
                ["interface", v] => f.interface = Some(v.to_ascii_lowercase()),
                _ => {}
            }
        }
        Some(f)
    }

    fn accepts(&self, d: &GpuDevice) -> bool {
        self.model.as_ref().is_none_or(|m| *m == d.model)
            && self.ram_gi.is_none_or(|r| r == d.ram_gi)
            && self.interface.as_ref().is_none_or(|i| *i == d.interface)
    }

    fn describe(&self) -> String {
        let mut s = self.model.clone().unwrap_or_else(|| "any model".into());
        if let Some(r) = self.ram_gi {
            s.push_str(&format!(" {r}Gi"));
        }
        if let Some(i) = &self.interface {
            s.push_str(&format!(" {i}"));
        }
        s
    }
}

#[derive(Clone, Debug)]
struct NodeState {
    spec: NodeSpec,
    cpu_free: u64,
    memory_free: u64,
    ephemeral_free: u64,
    gpu_free: Vec<bool>,
    /// Why a GPU is withdrawn from new work (telemetry's health rules), when it is. A withdrawn
    /// GPU keeps serving the lease it has; it is only not offered again.
    gpu_withdrawn: Vec<Option<String>>,
}

impl NodeState {
    fn free_gpus(&self) -> usize {
        self.gpu_free.iter().filter(|f| **f).count()
    }

    /// Free GPUs this demand accepts, grouped by device kind.
    fn matching_gpus(&self, d: &Demand, locked: Option<&GpuDevice>) -> BTreeMap<GpuDevice, Vec<usize>> {
        let mut out: BTreeMap<GpuDevice, Vec<usize>> = BTreeMap::new();
        for (i, dev) in self.spec.gpus.iter().enumerate() {
            let ok = self.gpu_free[i]
                && self.gpu_withdrawn[i].is_none()
                && locked.is_none_or(|l| l == dev)
                && (d.filters.is_empty() || d.filters.iter().any(|f| f.accepts(dev)));
            if ok {
                out.entry(dev.clone()).or_default().push(i);
            }
        }
        out
    }

    /// The GPUs this node would give the demand: the kind with the fewest free devices that
    /// still has enough (so big blocks stay whole).
    fn pick_gpus(&self, d: &Demand, locked: Option<&GpuDevice>) -> Option<(GpuDevice, Vec<usize>)> {
        if d.gpus == 0 {
            return Some((GpuDevice { model: String::new(), ram_gi: 0, interface: String::new() }, Vec::new()));
        }
        self.matching_gpus(d, locked)
            .into_iter()
            .filter(|(_, idx)| idx.len() >= d.gpus as usize)
            .min_by_key(|(_, idx)| idx.len())
            .map(|(dev, idx)| (dev, idx[..d.gpus as usize].to_vec()))
    }

    fn fits(&self, d: &Demand) -> bool {
        self.cpu_free >= d.cpu && self.memory_free >= d.memory && self.ephemeral_free >= d.ephemeral
    }
}

#[derive(Clone, Debug)]
pub struct Inventory {
    nodes: Vec<NodeState>,
    pools: BTreeMap<String, (u64, u64)>,
    ram: bool,
    reservations: BTreeMap<OrderId, Reservation>,
}

fn demands(
    group: &GroupSpec,
    spec_ram: bool,
    pools: &BTreeMap<String, (u64, u64)>,
) -> Result<(Vec<Demand>, BTreeMap<String, u64>), FitError> {
    let mut out = Vec::new();
    let mut persistent: BTreeMap<String, u64> = BTreeMap::new();
    for unit in &group.resources {
        let r = &unit.resources;
        if r.storage.len() > MAX_VOLUMES {
            return Err(FitError::TooManyVolumes { count: r.storage.len() });
        }
        let mut memory = r.memory_bytes();
        let mut ephemeral = 0u64;
        for v in &r.storage {
            if v.is_ram() {
                if !spec_ram {
                    return Err(FitError::Ram { volume: v.name.clone() });
                }
                memory = memory.saturating_add(v.quantity.0);
            } else if v.is_persistent() {
                let class = v.class().unwrap_or("default").to_string();
                if !pools.contains_key(&class) {
                    return Err(FitError::StorageClass { volume: v.name.clone(), class });
                }
                *persistent.entry(class).or_default() += v.quantity.0.saturating_mul(u64::from(unit.count));
            } else {
                ephemeral = ephemeral.saturating_add(v.quantity.0);
            }
        }
        let gpus = u32::try_from(r.gpu_units()).unwrap_or(u32::MAX);
        let filters: Vec<GpuFilter> = r
            .gpu
            .as_ref()
            .map(|g| g.attributes.iter().filter_map(|a| GpuFilter::parse(&a.key)).collect())
            .unwrap_or_default();
        for index in 0..unit.count {
            out.push(Demand {
                unit: r.id,
                index,
                cpu: r.cpu_millis(),
                memory,
                ephemeral,
                gpus,
                filters: filters.clone(),
            });
        }
    }
    Ok((out, persistent))
}

impl Inventory {
    pub fn new(spec: &ClusterSpec) -> Inventory {
        let nodes = spec
            .nodes
            .iter()
            .map(|n| NodeState {
                spec: NodeSpec {
                    gpus: n.gpus.iter().map(|g| GpuDevice { model: canonical_model(&g.model), ..g.clone() }).collect(),
                    ..n.clone()
                },
                cpu_free: n.cpu_millis,
                memory_free: n.memory,
                ephemeral_free: n.ephemeral,
                gpu_free: vec![true; n.gpus.len()],
                gpu_withdrawn: vec![None; n.gpus.len()],
            })
            .collect();
        let pools = spec.persistent.iter().map(|(c, b)| (c.clone(), (*b, *b))).collect();
        Inventory { nodes, pools, ram: spec.ram, reservations: BTreeMap::new() }
    }

    /// Sets which GPUs of `node` are withdrawn from new work, with why (by index into the node's
    /// GPUs; the others are offered again). Unknown nodes and indices are ignored: telemetry may
    /// see GPUs the config does not declare.
    pub fn set_withdrawn(&mut self, node: &str, reasons: &BTreeMap<usize, String>) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.spec.name == node) {
            for (i, w) in n.gpu_withdrawn.iter_mut().enumerate() {
                *w = reasons.get(&i).cloned();
            }
        }
    }

    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    pub fn reservation(&self, order: &OrderId) -> Option<&Reservation> {
        self.reservations.get(order)
    }

    /// Places every replica of `group` for `order`, or changes nothing and says why not.
    pub fn reserve(
        &mut self,
        order: &OrderId,
        group: &GroupSpec,
        strategy: Strategy,
    ) -> Result<&Reservation, FitError> {
        if self.reservations.contains_key(order) {
            return Err(FitError::Duplicate(order.clone()));
        }
        let (mut wanted, persistent) = demands(group, self.ram, &self.pools)?;
        for (class, need) in &persistent {
            let free = self.pools.get(class).map_or(0, |p| p.1);
            if *need > free {
                return Err(FitError::Pool {
                    class: class.clone(),
                    need: format_bytes(*need),
                    free: format_bytes(free),
                });
            }
        }
        self.check_models(&wanted)?;
        match strategy {
            Strategy::BestFit => {
                wanted.sort_by(|a, b| b.gpus.cmp(&a.gpus).then(b.cpu.cmp(&a.cpu)).then(b.memory.cmp(&a.memory)));
            }
            // Akash walks the resource units last to first, replicas in order.
            Strategy::FirstFit => wanted.sort_by_key(|d| std::cmp::Reverse(d.unit)),
        }
        let mut scratch = self.nodes.clone();
        let mut locked: BTreeMap<u32, GpuDevice> = BTreeMap::new();
        let mut replicas = Vec::new();
        for d in &wanted {
            let choice = match strategy {
                Strategy::FirstFit => scratch.iter().enumerate().find_map(|(i, n)| {
                    if !n.fits(d) {
                        return None;
                    }
                    n.pick_gpus(d, locked.get(&d.unit)).map(|g| (i, g))
                }),
                Strategy::BestFit => scratch
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.fits(d))
                    .filter_map(|(i, n)| n.pick_gpus(d, locked.get(&d.unit)).map(|g| (i, g)))
                    .min_by(|(a, _), (b, _)| score(&scratch[*a], d).total_cmp(&score(&scratch[*b], d))),
            };
            let Some((i, (device, gpus))) = choice else {
                return Err(FitError::Capacity(self.explain(d, &scratch, replicas.len(), wanted.len())));
            };
            let n = &mut scratch[i];
            n.cpu_free -= d.cpu;
            n.memory_free -= d.memory;
            n.ephemeral_free -= d.ephemeral;
            for g in &gpus {
                n.gpu_free[*g] = false;
            }
            if d.gpus > 0 {
                locked.entry(d.unit).or_insert(device);
            }
            replicas.push(ReplicaPlacement {
                unit: d.unit,
                index: d.index,
                node: n.spec.name.clone(),
                gpus,
                cpu_millis: d.cpu,
                memory: d.memory,
                ephemeral: d.ephemeral,
            });
        }
        replicas.sort_by_key(|r| (r.unit, r.index));
        self.nodes = scratch;
        for (class, need) in &persistent {
            if let Some(p) = self.pools.get_mut(class) {
                p.1 -= need;
            }
        }
        let reservation = Reservation {
            order: order.clone(),
            replicas,
            persistent: persistent.into_iter().collect(),
            unit_gpus: locked.into_iter().collect(),
            allocated: false,
        };
        Ok(self.reservations.entry(order.clone()).or_insert(reservation))
    }

    /// Re-applies a reservation made before a restart, exactly where it was.
    pub fn restore(&mut self, r: &Reservation) -> Result<(), FitError> {
        if self.reservations.contains_key(&r.order) {
            return Err(FitError::Duplicate(r.order.clone()));
        }
        let mut scratch = self.nodes.clone();
        for p in &r.replicas {
            let gone = || {
                FitError::Capacity(format!(
                    "node {} no longer has room for replica {} of unit {}",
                    p.node, p.index, p.unit
                ))
            };
            let n = scratch.iter_mut().find(|n| n.spec.name == p.node).ok_or_else(gone)?;
            if n.cpu_free < p.cpu_millis || n.memory_free < p.memory || n.ephemeral_free < p.ephemeral {
                return Err(gone());
            }
            if p.gpus.iter().any(|g| !n.gpu_free.get(*g).copied().unwrap_or(false)) {
                return Err(gone());
            }
            n.cpu_free -= p.cpu_millis;
            n.memory_free -= p.memory;
            n.ephemeral_free -= p.ephemeral;
            for g in &p.gpus {
                n.gpu_free[*g] = false;
            }
        }
        for (class, need) in &r.persistent {
            let free = self.pools.get(class).map_or(0, |p| p.1);
            if *need > free {
                return Err(FitError::Pool {
                    class: class.clone(),
                    need: format_bytes(*need),
                    free: format_bytes(free),
                });
            }
        }
        for (class, need) in &r.persistent {
            if let Some(p) = self.pools.get_mut(class) {
                p.1 -= need;
            }
        }
        self.nodes = scratch;
        self.reservations.insert(r.order.clone(), r.clone());
        Ok(())
    }

    pub fn mark_allocated(&mut self, order: &OrderId) {
        if let Some(r) = self.reservations.get_mut(order) {
            r.allocated = true;
        }
    }

    /// Gives back everything reserved for `order`. Returns whether there was anything.
    pub fn release(&mut self, order: &OrderId) -> bool {
        let Some(r) = self.reservations.remove(order) else { return false };
        for p in &r.replicas {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.spec.name == p.node) {
                n.cpu_free += p.cpu_millis;
                n.memory_free += p.memory;
                n.ephemeral_free += p.ephemeral;
                for g in &p.gpus {
                    if let Some(f) = n.gpu_free.get_mut(*g) {
                        *f = true;
                    }
                }
            }
        }
        for (class, need) in &r.persistent {
            if let Some(p) = self.pools.get_mut(class) {
                p.1 += need;
            }
        }
        true
    }

    /// A GPU model no node has at all is a plain mismatch, not a capacity problem.
    fn check_models(&self, wanted: &[Demand]) -> Result<(), FitError> {
        for d in wanted.iter().filter(|d| d.gpus > 0 && !d.filters.is_empty()) {
            let any =
                self.nodes.iter().flat_map(|n| n.spec.gpus.iter()).any(|g| d.filters.iter().any(|f| f.accepts(g)));
            if !any {
                let wants: Vec<String> = d.filters.iter().map(GpuFilter::describe).collect();
                let mut has: Vec<String> = self
                    .nodes
                    .iter()
                    .flat_map(|n| n.spec.gpus.iter())
                    .map(|g| format!("{} {}Gi {}", g.model, g.ram_gi, g.interface))
                    .collect();
                has.sort();
                has.dedup();
                let has = if has.is_empty() { "no GPUs".to_string() } else { has.join(", ") };
                return Err(FitError::GpuModel { wants: wants.join(" or "), has });
            }
        }
        Ok(())
    }

    fn explain(&self, d: &Demand, nodes: &[NodeState], placed: usize, total: usize) -> String {
        let mut need = format!("{} CPU, {} memory", fmt_cpu(d.cpu), format_bytes(d.memory));
        if d.ephemeral > 0 {
            need.push_str(&format!(", {} disk", format_bytes(d.ephemeral)));
        }
        if d.gpus > 0 {
            let models: Vec<String> = d.filters.iter().map(GpuFilter::describe).collect();
            let models = if models.is_empty() { "any".to_string() } else { models.join(" or ") };
            need.push_str(&format!(", {}× GPU ({models}) on one node", d.gpus));
        }
        let best = nodes
            .iter()
            .map(|n| {
                let gpus = if d.gpus > 0 {
                    let m = n.matching_gpus(d, None).values().map(Vec::len).max().unwrap_or(0);
                    format!(", {m} matching GPUs")
                } else {
                    String::new()
                };
                (
                    n.cpu_free.min(d.cpu) as f64 / d.cpu.max(1) as f64
                        + n.memory_free.min(d.memory) as f64 / d.memory.max(1) as f64,
                    format!(
                        "{} has {} CPU, {} memory{gpus} free",
                        n.spec.name,
                        fmt_cpu(n.cpu_free),
                        format_bytes(n.memory_free)
                    ),
                )
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or_else(|| "the provider has no nodes".to_string(), |b| b.1);
        let withdrawn: Vec<String> = if d.gpus > 0 {
            nodes
                .iter()
                .flat_map(|n| n.gpu_withdrawn.iter().flatten().map(move |why| format!("{}: {why}", n.spec.name)))
                .collect()
        } else {
            Vec::new()
        };
        let withdrawn = if withdrawn.is_empty() {
            String::new()
        } else {
            format!("; withdrawn from new work: {}", withdrawn.join("; "))
        };
        format!("{total} replica(s) of {need} each; {placed} placed, then none fits (best: {best}){withdrawn}")
    }

    /// Totals and, per GPU kind, free units and the largest replica one node can still take.
    pub fn status(&self) -> InventoryStatus {
        let mut s = InventoryStatus { nodes: self.nodes.len(), ..InventoryStatus::default() };
        let mut gpus: BTreeMap<GpuDevice, GpuAvailability> = BTreeMap::new();
        for n in &self.nodes {
            s.cpu_millis_total += n.spec.cpu_millis;
            s.cpu_millis_free += n.cpu_free;
            s.memory_total += n.spec.memory;
            s.memory_free += n.memory_free;
            s.ephemeral_total += n.spec.ephemeral;
            s.ephemeral_free += n.ephemeral_free;
            // A replica needs at least the ledger's minimum CPU and memory besides its GPUs.
            let can_host = n.cpu_free >= stratus_types::group::MIN_UNIT_CPU
                && n.memory_free >= stratus_types::group::MIN_UNIT_MEMORY;
            let mut here: BTreeMap<&GpuDevice, GpuAvailability> = BTreeMap::new();
            let mut withdrawn = 0;
            for (i, g) in n.spec.gpus.iter().enumerate() {
                let a = here.entry(g).or_insert_with(|| GpuAvailability {
                    model: g.model.clone(),
                    ram_gi: g.ram_gi,
                    interface: g.interface.clone(),
                    ..GpuAvailability::default()
                });
                a.total += 1;
                withdrawn += u32::from(n.gpu_withdrawn[i].is_some());
                if n.gpu_free[i] && n.gpu_withdrawn[i].is_none() {
                    a.free += 1;
                }
            }
            for (g, a) in &mut here {
                a.largest_replica = if can_host { a.free } else { 0 };
                let all =
                    gpus.entry((*g).clone()).or_insert_with(|| GpuAvailability { total: 0, free: 0, ..a.clone() });
                all.total += a.total;
                all.free += a.free;
                all.largest_replica = all.largest_replica.max(a.largest_replica);
            }
            s.by_node.push(NodeInventory {
                name: n.spec.name.clone(),
                cpu_millis_total: n.spec.cpu_millis,
                cpu_millis_free: n.cpu_free,
                memory_total: n.spec.memory,
                memory_free: n.memory_free,
                gpus: here.into_values().collect(),
                withdrawn,
            });
        }
        s.gpus = gpus.into_values().collect();
        s.storage =
            self.pools.iter().map(|(c, (t, f))| StoragePool { class: c.clone(), total: *t, free: *f }).collect();
        s
    }
}

/// GPUs on a node that no replica can use any more, because the CPU or memory that should come
/// with them (the node's own ratio) is gone.
fn stranded(n: &NodeState, cpu_free: u64, memory_free: u64, free_gpus: usize) -> f64 {
    let total = n.spec.gpus.len();
    if total == 0 || free_gpus == 0 {
        return 0.0;
    }
    let cpu_per_gpu = n.spec.cpu_millis as f64 / total as f64;
    let mem_per_gpu = n.spec.memory as f64 / total as f64;
    let usable = (cpu_free as f64 / cpu_per_gpu).min(memory_free as f64 / mem_per_gpu).floor();
    (free_gpus as f64 - usable).max(0.0)
}

/// Lower is better: first, GPUs the placement would strand (CPU-only work on a GPU node eats the
/// CPU its GPUs need); then nodes left with the fewest free GPUs (keep big blocks whole); then
/// the tightest fit.
fn score(n: &NodeState, d: &Demand) -> f64 {
    let free = n.free_gpus();
    let after = free - d.gpus as usize;
    let newly_stranded = stranded(n, n.cpu_free - d.cpu, n.memory_free - d.memory, after)
        - stranded(n, n.cpu_free, n.memory_free, free).min(after as f64);
    let frac = |free: u64, total: u64| if total == 0 { 0.0 } else { free as f64 / total as f64 };
    let tight = frac(n.cpu_free - d.cpu, n.spec.cpu_millis) + frac(n.memory_free - d.memory, n.spec.memory);
    newly_stranded.max(0.0) * 1000.0 + after as f64 * 10.0 + tight
}

pub fn fmt_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) { format!("{}", millis / 1000) } else { format!("{}m", millis) }
}

#[cfg(test)]
mod tests;
