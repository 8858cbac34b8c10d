//! The GPU catalog: canonical model names and the spellings people and tools use for them.
//!
//! Akash matches GPU requirements against provider capabilities by exact string, so `a100`,
//! `nvidia-a100` and `A100-SXM4-80GB` lose bids to each other. Stratus canonicalizes the model on
//! both sides (order requirements and provider capabilities), in the ledger and in the provider,
//! from this one table. Changing it changes which bids the ledger accepts: it is versioned with
//! the ledger.

/// One known GPU model.
#[derive(Clone, Copy, Debug)]
pub struct GpuModel {
    /// Canonical name, as it appears in capability keys (`vendor/nvidia/model/<canonical>`).
    pub canonical: &'static str,
    /// Other names, compared after [`normalize`].
    pub aliases: &'static [&'static str],
    /// Memory sizes in GiB this model ships with; the first is assumed when a tool reports none.
    pub ram_gi: &'static [u32],
    /// Interfaces this model ships with (`pcie`, `sxm`); the first is the default.
    pub interfaces: &'static [&'static str],
}

pub const CATALOG: &[GpuModel] = &[
    GpuModel { canonical: "h200", aliases: &["h200sxm", "h200nvl"], ram_gi: &[141], interfaces: &["sxm", "pcie"] },
    GpuModel {
        canonical: "h100",
        aliases: &["h100sxm", "h100pcie", "h100nvl", "h10080gbhbm3"],
        ram_gi: &[80, 94],
        interfaces: &["sxm", "pcie"],
    },
    GpuModel { canonical: "gh200", aliases: &[], ram_gi: &[96], interfaces: &["sxm"] },
    GpuModel { canonical: "b200", aliases: &[], ram_gi: &[180], interfaces: &["sxm"] },
    GpuModel {
        canonical: "a100",
        aliases: &["a100sxm4", "a100pcie", "a100sxm"],
        ram_gi: &[80, 40],
        interfaces: &["sxm", "pcie"],
    },
    GpuModel { canonical: "a800", aliases: &[], ram_gi: &[80], interfaces: &["sxm", "pcie"] },
    GpuModel { canonical: "a40", aliases: &[], ram_gi: &[48], interfaces: &["pcie"] },
    GpuModel { canonical: "a30", aliases: &[], ram_gi: &[24], interfaces: &["pcie"] },
    GpuModel { canonical: "a10", aliases: &["a10g"], ram_gi: &[24], interfaces: &["pcie"] },
    GpuModel { canonical: "l40s", aliases: &[], ram_gi: &[48], interfaces: &["pcie"] },
    GpuModel { canonical: "l40", aliases: &[], ram_gi: &[48], interfaces: &["pcie"] },
    GpuModel { canonical: "l4", aliases: &[], ram_gi: &[24], interfaces: &["pcie"] },
    GpuModel {
        canonical: "v100",
        aliases: &["teslav100", "v100sxm2", "v100pcie"],
        ram_gi: &[32, 16],
        interfaces: &["sxm", "pcie"],
    },
    GpuModel { canonical: "t4", aliases: &["teslat4"], ram_gi: &[16], interfaces: &["pcie"] },
    GpuModel {
        canonical: "rtx6000ada",
        aliases: &["rtx6000adageneration", "rtx6000-ada"],
        ram_gi: &[48],
        interfaces: &["pcie"],
    },
    GpuModel { canonical: "rtxa6000", aliases: &["a6000", "rtxa6000"], ram_gi: &[48], interfaces: &["pcie"] },
    GpuModel { canonical: "rtxa5000", aliases: &["a5000"], ram_gi: &[24], interfaces: &["pcie"] },
    GpuModel { canonical: "rtxa4000", aliases: &["a4000"], ram_gi: &[16], interfaces: &["pcie"] },
    GpuModel { canonical: "rtx5090", aliases: &["geforcertx5090"], ram_gi: &[32], interfaces: &["pcie"] },
    GpuModel { canonical: "rtx4090", aliases: &["geforcertx4090", "4090"], ram_gi: &[24], interfaces: &["pcie"] },
    GpuModel { canonical: "rtx4080", aliases: &["geforcertx4080", "4080"], ram_gi: &[16], interfaces: &["pcie"] },
    GpuModel {
        canonical: "rtx3090",
        aliases: &["geforcertx3090", "3090", "rtx3090ti"],
        ram_gi: &[24],
        interfaces: &["pcie"],
    },
    GpuModel { canonical: "rtx3080", aliases: &["geforcertx3080", "3080"], ram_gi: &[10, 12], interfaces: &["pcie"] },
    GpuModel { canonical: "rtx3070", aliases: &["geforcertx3070", "3070"], ram_gi: &[8], interfaces: &["pcie"] },
    GpuModel { canonical: "rtx3060", aliases: &["geforcertx3060", "3060"], ram_gi: &[12], interfaces: &["pcie"] },
];

/// Lowercase, without a vendor prefix and without spaces, dashes, underscores and dots:
/// `NVIDIA GeForce RTX 4090` → `geforcertx4090`, `nvidia-a100` → `a100`.
pub fn normalize(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let lower = lower.strip_prefix("nvidia").unwrap_or(&lower);
    lower.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// The catalog entry for a model name in any known spelling.
pub fn lookup(name: &str) -> Option<&'static GpuModel> {
    let n = normalize(name);
    CATALOG.iter().find(|m| m.canonical == n || m.aliases.iter().any(|a| normalize(a) == n))
}

/// The canonical model name: the catalog's for known models, the normalized spelling otherwise
/// (so two spellings of an unknown model still meet). `*` stays a wildcard.
pub fn canonical_model(name: &str) -> String {
    if name == "*" || name.is_empty() {
        return name.to_string();
    }
    lookup(name).map_or_else(|| normalize(name), |m| m.canonical.to_string())
}

/// A GPU as a tool reports it (`NVIDIA A100-SXM4-80GB`, `NVIDIA H100 80GB HBM3`): model, memory in
/// GiB and interface, filling gaps from the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectedGpu {
    pub model: String,
    pub ram_gi: u32,
    pub interface: String,
}

/// Reads an NVIDIA product name, with the memory the driver reports (MiB) when known.
pub fn parse_product_name(product: &str, memory_mib: Option<u64>) -> DetectedGpu {
    let upper = product.to_ascii_uppercase();
    let cleaned = upper.replace("NVIDIA", "").replace("GEFORCE", "").replace("TESLA", "");
    let tokens: Vec<&str> = cleaned.split([' ', '-', '_']).filter(|t| !t.is_empty()).collect();
    // The model is the longest run of leading tokens the catalog knows.
    let mut model = None;
    for take in (1..=tokens.len().min(3)).rev() {
        let candidate: String = tokens[..take].concat();
        if let Some(m) = lookup(&candidate) {
            model = Some(m);
            break;
        }
    }
    let interface = if upper.contains("SXM") || upper.contains("HBM3") && !upper.contains("PCIE") {
        "sxm".to_string()
    } else if upper.contains("PCIE") {
        "pcie".to_string()
    } else {
        model.map_or("pcie", |m| m.interfaces[0]).to_string()
    };
    let ram_from_name = tokens.iter().find_map(|t| t.strip_suffix("GB").and_then(|n| n.parse::<u32>().ok()));
    let ram_from_driver = memory_mib.map(|mib| u32::try_from((mib + 512) / 1024).unwrap_or(u32::MAX));
    let ram_gi = ram_from_name.or(ram_from_driver).or_else(|| model.map(|m| m.ram_gi[0])).unwrap_or(0);
    let model =
        model.map_or_else(|| normalize(tokens.first().copied().unwrap_or("unknown")), |m| m.canonical.to_string());
    DetectedGpu { model, ram_gi, interface }
}

/// Rewrites the model segment of a GPU attribute key (`vendor/nvidia/model/<m>/...`) to its
/// canonical name.
pub fn canonicalize_gpu_key(key: &str) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["vendor", vendor, "model", model, rest @ ..] => {
            let mut out = format!("vendor/{vendor}/model/{}", canonical_model(model));
            for r in rest {
                out.push('/');
                out.push_str(r);
            }
            out
        }
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_meet_at_one_name() {
        for name in ["a100", "nvidia-a100", "NVIDIA A100", "A100-SXM4", "a100_sxm"] {
            assert_eq!(canonical_model(name), "a100", "{name}");
        }
        assert_eq!(canonical_model("NVIDIA GeForce RTX 4090"), "rtx4090");
        assert_eq!(canonical_model("RTX-4090"), "rtx4090");
        assert_eq!(canonical_model("MI300X"), "mi300x");
        assert_eq!(canonical_model("*"), "*");
    }

    #[test]
    fn product_names_from_nvidia_smi() {
        let g = parse_product_name("NVIDIA A100-SXM4-80GB", Some(81920));
        assert_eq!(g, DetectedGpu { model: "a100".into(), ram_gi: 80, interface: "sxm".into() });
        let g = parse_product_name("NVIDIA H100 PCIe", Some(81559));
        assert_eq!(g, DetectedGpu { model: "h100".into(), ram_gi: 80, interface: "pcie".into() });
        let g = parse_product_name("NVIDIA H100 80GB HBM3", None);
        assert_eq!(g, DetectedGpu { model: "h100".into(), ram_gi: 80, interface: "sxm".into() });
        let g = parse_product_name("NVIDIA GeForce RTX 4090", Some(24564));
        assert_eq!(g, DetectedGpu { model: "rtx4090".into(), ram_gi: 24, interface: "pcie".into() });
    }

    #[test]
    fn keys_are_canonicalized() {
        assert_eq!(
            canonicalize_gpu_key("vendor/nvidia/model/nvidia-a100/ram/80Gi"),
            "vendor/nvidia/model/a100/ram/80Gi"
        );
        assert_eq!(canonicalize_gpu_key("vendor/nvidia/model/*"), "vendor/nvidia/model/*");
        assert_eq!(canonicalize_gpu_key("region"), "region");
    }
}
