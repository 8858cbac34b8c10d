//! Inventory from the host itself: CPU cores, memory, the data disk, and NVIDIA GPUs as
//! `nvidia-smi` reports them (model, memory, interface through the GPU catalog).

use std::process::Command;

use anyhow::{Context, anyhow};

use crate::config::{InventoryConfig, pools};
use crate::pure::inventory::{ClusterSpec, GpuDevice, NodeSpec};

pub fn detect(inv: &InventoryConfig) -> anyhow::Result<ClusterSpec> {
    let cpu_millis = std::thread::available_parallelism().map(|n| n.get() as u64 * 1000).unwrap_or(1000);
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let memory = meminfo_total(&meminfo).ok_or_else(|| anyhow!("/proc/meminfo has no MemTotal"))?;
    let stat = nix::sys::statvfs::statvfs("/").context("statvfs /")?;
    let ephemeral = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    let gpus = nvidia_gpus();
    let name = std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "host".into());
    Ok(ClusterSpec {
        nodes: vec![NodeSpec { name, cpu_millis, memory, ephemeral, gpus }],
        persistent: pools(inv)?,
        ram: inv.ram,
    })
}

fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// GPUs from `nvidia-smi`; none when it is missing or fails (a CPU-only host).
pub fn nvidia_gpus() -> Vec<GpuDevice> {
    let out =
        Command::new("nvidia-smi").args(["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]).output();
    match out {
        Ok(o) if o.status.success() => parse_nvidia_smi(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

/// Lines like `NVIDIA A100-SXM4-80GB, 81920`.
pub fn parse_nvidia_smi(text: &str) -> Vec<GpuDevice> {
    text.lines()
        .filter_map(|l| {
            let (name, mib) = l.rsplit_once(',')?;
            let g = stratus_types::gpu::parse_product_name(name.trim(), mib.trim().parse().ok());
            Some(GpuDevice { model: g.model, ram_gi: g.ram_gi, interface: g.interface })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_lines_become_catalog_gpus() {
        let gpus = parse_nvidia_smi("NVIDIA A100-SXM4-80GB, 81920\nNVIDIA GeForce RTX 4090, 24564\n");
        assert_eq!(gpus[0], GpuDevice { model: "a100".into(), ram_gi: 80, interface: "sxm".into() });
        assert_eq!(gpus[1], GpuDevice { model: "rtx4090".into(), ram_gi: 24, interface: "pcie".into() });
        assert_eq!(meminfo_total("MemTotal:       16314884 kB\nMemFree: 1 kB"), Some(16314884 * 1024));
    }

    #[test]
    fn this_host_is_detected() {
        let spec = detect(&InventoryConfig {
            mode: "detect".into(),
            nodes: vec![],
            persistent: Default::default(),
            ram: true,
        })
        .unwrap();
        assert_eq!(spec.nodes.len(), 1);
        assert!(spec.nodes[0].cpu_millis >= 1000 && spec.nodes[0].memory > 0);
    }
}
