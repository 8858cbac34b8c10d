//! The packing benchmark's simulation: a GPU cluster under churn, the same stream of requests
//! placed by best-fit and by greedy first-fit (Akash's placement), counting what gets placed.
//!
//! The cluster: GPU nodes (8× h100, 96 cores, 1 TiB) and CPU nodes (64 cores), listed in a
//! shuffled order (nodes are listed by name, which says nothing about what they hold). A long
//! stream of arrivals (CPU-only services; 1–2 and 4-GPU replicas; Ray-shaped groups of a CPU head
//! and 8-GPU workers, all or nothing) and departures runs, so the fragmentation a placement policy
//! leaves behind is what later requests meet. Everything is seeded: a run is reproducible.

use stratus_types::address::Address;
use stratus_types::group::GroupSpec;
use stratus_types::market::OrderId;
use stratus_types::resources::ResourceValue;

use stratus_provider::pure::inventory::{ClusterSpec, GpuDevice, Inventory, NodeSpec, Strategy};

const GI: u64 = 1 << 30;

/// A small deterministic generator (xorshift64*), so the benchmark needs no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub gpu_nodes: usize,
    pub cpu_nodes: usize,
    /// Arrivals and departures.
    pub steps: usize,
    /// Chance (percent) that a step ends a running lease instead of bringing a request.
    pub departure_pct: u64,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub requests: u64,
    pub placed_requests: u64,
    pub placed_replicas: u64,
    pub placed_gpus: u64,
}

fn cluster(s: &Scenario) -> ClusterSpec {
    let mut nodes = Vec::new();
    for i in 0..s.gpu_nodes {
        nodes.push(NodeSpec {
            name: format!("gpu-{i}"),
            cpu_millis: 96_000,
            memory: 1024 * GI,
            ephemeral: 4096 * GI,
            gpus: vec![GpuDevice { model: "h100".into(), ram_gi: 80, interface: "sxm".into() }; 8],
        });
    }
    for i in 0..s.cpu_nodes {
        nodes.push(NodeSpec {
            name: format!("cpu-{i}"),
            cpu_millis: 64_000,
            memory: 256 * GI,
            ephemeral: 2048 * GI,
            gpus: vec![],
        });
    }
    let mut rng = Rng::new(s.seed ^ 0x5eed);
    for i in (1..nodes.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        nodes.swap(i, j);
    }
    ClusterSpec { nodes, persistent: Default::default(), ram: true }
}

/// One request. Every GPU comes with 12 cores (less a little) and 96 GiB.
fn request(rng: &mut Rng) -> GroupSpec {
    match rng.below(100) {
        0..=34 => group(&[(1 + rng.below(2) as u32, 0, 8 + 8 * rng.below(4), 32 + 32 * rng.below(3))]),
        35..=69 => {
            let g = 1 + rng.below(2);
            group(&[(1, g, 12 * g - 2, 96 * g)])
        }
        70..=89 => group(&[(1, 4, 46, 384)]),
        _ => group(&[(1, 0, 16, 64), (1 + rng.below(2) as u32, 8, 92, 768)]),
    }
}

/// A group of units `(count, gpus, cores, GiB)`, ids from 1 in order.
fn group(units: &[(u32, u64, u64, u64)]) -> GroupSpec {
    use stratus_types::attributes::Attribute;
    use stratus_types::group::{DecCoin, PlacementRequirements, ResourceUnit};
    use stratus_types::resources::{Cpu, Gpu, Memory, Resources};
    let resources = units
        .iter()
        .enumerate()
        .map(|(i, &(count, gpus, cores, gib))| ResourceUnit {
            resources: Resources {
                cpu: Some(Cpu { attributes: vec![], units: ResourceValue(cores * 1000) }),
                endpoints: vec![],
                gpu: Some(Gpu {
                    attributes: if gpus > 0 {
                        vec![Attribute::new("vendor/nvidia/model/h100", "true")]
                    } else {
                        vec![]
                    },
                    units: ResourceValue(gpus),
                }),
                id: i as u32 + 1,
                memory: Some(Memory { attributes: vec![], quantity: ResourceValue(gib * GI) }),
                storage: vec![],
            },
            count,
            price: DecCoin::default(),
        })
        .collect();
    GroupSpec { name: "bench".into(), requirements: PlacementRequirements::default(), resources }
}

/// Runs the scenario with one strategy.
pub fn simulate(s: &Scenario, strategy: Strategy) -> Outcome {
    let mut inv = Inventory::new(&cluster(s));
    let mut rng = Rng::new(s.seed);
    let mut live: Vec<OrderId> = Vec::new();
    let id = |n: u64| OrderId { owner: Address([7; 20]), dseq: n, gseq: 1, oseq: 1 };
    let mut out = Outcome::default();
    for n in 0..s.steps as u64 {
        // The same draws every step, so both strategies see the same requests at the same steps.
        let depart = rng.below(100) < s.departure_pct;
        let pick = rng.next_u64();
        let g = request(&mut rng);
        if depart {
            if !live.is_empty() {
                let i = (pick % live.len() as u64) as usize;
                inv.release(&live.swap_remove(i));
            }
            continue;
        }
        out.requests += 1;
        if inv.reserve(&id(n), &g, strategy).is_ok() {
            live.push(id(n));
            out.placed_requests += 1;
            for unit in &g.resources {
                out.placed_replicas += u64::from(unit.count);
                out.placed_gpus += u64::from(unit.count) * unit.resources.gpu_units();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_is_deterministic_and_places_work() {
        let s = Scenario { gpu_nodes: 8, cpu_nodes: 2, steps: 300, departure_pct: 45, seed: 7 };
        let a = simulate(&s, Strategy::BestFit);
        assert_eq!(a, simulate(&s, Strategy::BestFit));
        assert!(a.placed_replicas > 0 && a.placed_requests <= a.requests);
        assert!(simulate(&s, Strategy::FirstFit).placed_replicas > 0);
    }
}
