use stratus_ledger::testkit::group;
use stratus_types::attributes::Attribute;
use stratus_types::resources::{ResourceValue, Storage};

use super::*;

const GI: u64 = 1 << 30;

fn gpu_node(name: &str, model: &str, n: usize, cpu: u64) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        cpu_millis: cpu * 1000,
        memory: 512 * GI,
        ephemeral: 1024 * GI,
        gpus: vec![GpuDevice { model: model.into(), ram_gi: 80, interface: "sxm".into() }; n],
    }
}

fn cpu_node(name: &str, cpu: u64) -> NodeSpec {
    NodeSpec { name: name.into(), cpu_millis: cpu * 1000, memory: 256 * GI, ephemeral: 1024 * GI, gpus: vec![] }
}

fn order(n: u64) -> OrderId {
    OrderId { owner: stratus_types::address::Address([1; 20]), dseq: n, gseq: 1, oseq: 1 }
}

/// `count` replicas of `gpus` GPUs (model or `*`) and `cpu` cores.
fn job(count: u32, gpus: u64, model: &str, cpu: u64) -> GroupSpec {
    let mut g = group("g", 100, count, if gpus > 0 { Some((gpus, model)) } else { None });
    g.resources[0].resources.cpu.as_mut().unwrap().units = ResourceValue(cpu * 1000);
    g
}

fn cluster(nodes: Vec<NodeSpec>) -> Inventory {
    Inventory::new(&ClusterSpec { nodes, persistent: BTreeMap::new(), ram: true })
}

#[test]
fn all_gpus_of_a_replica_are_on_one_node() {
    let mut inv = cluster(vec![gpu_node("a", "h100", 4, 64), gpu_node("b", "h100", 4, 64)]);
    let err = inv.reserve(&order(1), &job(1, 6, "h100", 4), Strategy::BestFit).unwrap_err();
    assert!(matches!(err, FitError::Capacity(_)), "{err}");
    assert!(err.to_string().contains("6× GPU (h100) on one node"), "{err}");
    assert!(err.to_string().contains("4 matching GPUs"), "{err}");
    let r = inv.reserve(&order(2), &job(2, 4, "h100", 4), Strategy::BestFit).unwrap();
    assert_ne!(r.replicas[0].node, r.replicas[1].node);
    assert!(r.replicas.iter().all(|p| p.gpus.len() == 4));
}

#[test]
fn gpu_spellings_meet_and_a_missing_model_says_what_there_is() {
    let mut inv = cluster(vec![gpu_node("a", "NVIDIA A100", 2, 16)]);
    assert!(inv.reserve(&order(1), &job(1, 1, "nvidia-a100", 1), Strategy::BestFit).is_ok());
    let err = inv.reserve(&order(2), &job(1, 1, "h200", 1), Strategy::BestFit).unwrap_err();
    assert_eq!(err.to_string(), "needs gpu h200; has a100 80Gi sxm");
    // Memory and interface constraints are part of the model key.
    let mut g = job(1, 1, "a100", 1);
    g.resources[0].resources.gpu.as_mut().unwrap().attributes =
        vec![Attribute::new("vendor/nvidia/model/a100/ram/40Gi", "true")];
    assert!(matches!(inv.reserve(&order(3), &g, Strategy::BestFit), Err(FitError::GpuModel { .. })));
    g.resources[0].resources.gpu.as_mut().unwrap().attributes =
        vec![Attribute::new("vendor/nvidia/model/a100/ram/80Gi/interface/sxm", "true")];
    assert!(inv.reserve(&order(4), &g, Strategy::BestFit).is_ok());
}

#[test]
fn replicas_of_a_unit_share_one_model() {
    let mut inv = cluster(vec![gpu_node("a", "a100", 2, 16), gpu_node("b", "h100", 2, 16)]);
    let err = inv.reserve(&order(1), &job(2, 2, "*", 1), Strategy::BestFit).unwrap_err();
    assert!(matches!(err, FitError::Capacity(_)), "{err}");
    assert!(inv.reservations().next().is_none(), "a failed reservation leaves nothing behind");
    let r = inv.reserve(&order(2), &job(1, 2, "*", 1), Strategy::BestFit).unwrap();
    assert_eq!(r.unit_gpus.len(), 1);
}

fn with_volume(mut g: GroupSpec, name: &str, size: u64, attrs: &[(&str, &str)]) -> GroupSpec {
    g.resources[0].resources.storage.push(Storage {
        attributes: attrs.iter().map(|(k, v)| Attribute::new(*k, *v)).collect(),
        name: name.into(),
        quantity: ResourceValue(size),
    });
    g
}

#[test]
fn ram_volumes_count_as_memory() {
    let mut node = cpu_node("a", 8);
    node.memory = 4 * GI;
    let mut inv = cluster(vec![node]);
    let mut g = job(1, 0, "", 1);
    g.resources[0].resources.memory.as_mut().unwrap().quantity = ResourceValue(GI);
    let too_big = with_volume(g.clone(), "shm", 4 * GI, &[("class", "ram"), ("persistent", "false")]);
    assert!(matches!(inv.reserve(&order(1), &too_big, Strategy::BestFit), Err(FitError::Capacity(_))));
    let ok = with_volume(g, "shm", GI, &[("class", "ram"), ("persistent", "false")]);
    let r = inv.reserve(&order(2), &ok, Strategy::BestFit).unwrap().clone();
    assert_eq!(r.replicas[0].memory, 2 * GI);
    assert_eq!(inv.status().memory_free, 2 * GI);
    let mut no_ram =
        Inventory::new(&ClusterSpec { nodes: vec![cpu_node("a", 8)], persistent: BTreeMap::new(), ram: false });
    let err =
        no_ram.reserve(&order(3), &with_volume(job(1, 0, "", 1), "shm", GI, &[("class", "ram")]), Strategy::BestFit);
    assert_eq!(err.unwrap_err(), FitError::Ram { volume: "shm".into() });
}

#[test]
fn persistent_volumes_come_from_class_pools() {
    let spec = ClusterSpec {
        nodes: vec![cpu_node("a", 8), cpu_node("b", 8)],
        persistent: [("beta3".to_string(), 100 * GI)].into(),
        ram: false,
    };
    let mut inv = Inventory::new(&spec);
    let pv = |size| with_volume(job(2, 0, "", 1), "data", size, &[("class", "beta3"), ("persistent", "true")]);
    let err = inv.reserve(&order(1), &pv(60 * GI), Strategy::BestFit).unwrap_err();
    assert_eq!(err.to_string(), "persistent storage class beta3: needs 120Gi, 100Gi free");
    inv.reserve(&order(2), &pv(40 * GI), Strategy::BestFit).unwrap();
    assert_eq!(inv.status().storage[0].free, 20 * GI);
    let other = with_volume(job(1, 0, "", 1), "data", GI, &[("class", "beta2"), ("persistent", "true")]);
    assert!(matches!(inv.reserve(&order(3), &other, Strategy::BestFit), Err(FitError::StorageClass { .. })));
    assert!(inv.release(&order(2)));
    assert_eq!(inv.status().storage[0].free, 100 * GI);
    assert!(!inv.release(&order(2)));
}

#[test]
fn release_and_restore_round_trip() {
    let mut inv = cluster(vec![gpu_node("a", "h100", 8, 64), cpu_node("c", 32)]);
    let empty = inv.status();
    let r = inv.reserve(&order(1), &job(2, 3, "h100", 4), Strategy::BestFit).unwrap().clone();
    let used = inv.status();
    assert_eq!(used.gpus[0].free, 2);
    assert!(inv.release(&order(1)));
    assert_eq!(inv.status(), empty);
    inv.restore(&r).unwrap();
    assert_eq!(inv.status(), used);
    // The same GPUs cannot be promised twice.
    let mut other = r.clone();
    other.order = order(2);
    assert!(inv.restore(&other).is_err());
    assert_eq!(inv.status(), used, "a failed restore changes nothing");
    assert!(matches!(inv.reserve(&order(1), &job(1, 1, "h100", 1), Strategy::BestFit), Err(FitError::Duplicate(_))));
}

#[test]
fn status_reports_the_largest_replica_not_just_free_units() {
    let mut inv = cluster(vec![gpu_node("a", "h100", 8, 64), gpu_node("b", "h100", 8, 64)]);
    inv.reserve(&order(1), &job(1, 5, "h100", 1), Strategy::BestFit).unwrap();
    inv.reserve(&order(2), &job(1, 6, "h100", 1), Strategy::BestFit).unwrap();
    let status = inv.status();
    let g = &status.gpus[0];
    assert_eq!((g.total, g.free, g.largest_replica), (16, 5, 3));
    // Node by node: where the free GPUs are.
    let by_node: Vec<(&str, u32, u32, u32)> = status
        .by_node
        .iter()
        .map(|n| (n.name.as_str(), n.gpus[0].total, n.gpus[0].free, n.gpus[0].largest_replica))
        .collect();
    assert_eq!(by_node.iter().map(|n| n.2).sum::<u32>(), 5);
    assert!(by_node.contains(&("a", 8, 3, 3)) || by_node.contains(&("b", 8, 3, 3)), "{by_node:?}");
    assert!(by_node.contains(&("a", 8, 2, 2)) || by_node.contains(&("b", 8, 2, 2)), "{by_node:?}");
    // A node whose CPU is all taken cannot host a replica, whatever GPUs it has free.
    let mut inv = cluster(vec![gpu_node("a", "h100", 8, 4)]);
    inv.reserve(&order(1), &job(1, 1, "h100", 4), Strategy::BestFit).unwrap();
    let status = inv.status();
    let g = &status.gpus[0];
    assert_eq!((g.free, g.largest_replica), (7, 0));
    assert_eq!((status.by_node[0].gpus[0].free, status.by_node[0].gpus[0].largest_replica), (7, 0));
    assert_eq!(status.by_node[0].cpu_millis_free, 0);
}

#[test]
fn best_fit_keeps_cpu_work_off_gpu_nodes_where_first_fit_strands_gpus() {
    let nodes = vec![gpu_node("a", "h100", 8, 16), gpu_node("b", "h100", 8, 16), cpu_node("c", 16)];
    let run = |strategy| {
        let mut inv = cluster(nodes.clone());
        let cpu_job = inv.reserve(&order(1), &job(1, 0, "", 14), strategy).is_ok();
        let gpu_job = inv.reserve(&order(2), &job(2, 8, "h100", 8), strategy).is_ok();
        (cpu_job, gpu_job)
    };
    assert_eq!(run(Strategy::FirstFit), (true, false), "first-fit puts the CPU job on GPU node a");
    assert_eq!(run(Strategy::BestFit), (true, true));
}

#[test]
fn a_withdrawn_gpu_is_not_offered_and_the_refusal_says_why_until_it_is_healthy_again() {
    let mut inv = cluster(vec![gpu_node("a", "h100", 4, 64)]);
    let hot: BTreeMap<usize, String> = [(2, "gpu 2 (h100): 91 °C, at or over its 87 °C limit".to_string())].into();
    inv.set_withdrawn("a", &hot);
    assert_eq!(inv.status().gpus[0].free, 3, "a withdrawn GPU is not free");
    assert_eq!(inv.status().by_node[0].withdrawn, 1, "and is counted on its node");
    let err = inv.reserve(&order(1), &job(1, 4, "h100", 8), Strategy::BestFit).unwrap_err().to_string();
    assert!(err.contains("withdrawn from new work: a: gpu 2 (h100): 91 °C"), "{err}");
    let three = inv.reserve(&order(2), &job(1, 3, "h100", 8), Strategy::BestFit).unwrap();
    assert_eq!(three.replicas[0].gpus, vec![0, 1, 3], "the other three are offered");
    inv.set_withdrawn("a", &BTreeMap::new());
    assert_eq!(inv.status().gpus[0].free, 1, "healthy again: offered again");
}
