//! What to bid. Built in: rates per block for each replica's CPU, memory, storage by class,
//! endpoints and GPUs by model (Akash's `scale` strategy has no GPU term; its users price GPUs
//! with scripts, so we build it in). Or an external script with Akash's contract: the request as
//! JSON on stdin, `AKASH_OWNER` and `AKASH_DENOM` in the environment, a decimal price on stdout.
//! Both price the resources the inventory actually allocated (the concrete GPU model), not the
//! wildcard the tenant wrote.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use stratus_types::address::Address;
use stratus_types::dec::{DEC_SCALE, Dec};
use stratus_types::group::GroupSpec;

use crate::config::{PricingConfig, price};
use crate::pure::inventory::Reservation;

const GI: u128 = 1 << 30;
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Pricing {
    pub denoms: Vec<String>,
    cpu_per_core: Dec,
    memory_per_gi: Dec,
    storage_per_gi: BTreeMap<String, Dec>,
    endpoint: Dec,
    gpu: BTreeMap<String, Dec>,
    script: Option<PathBuf>,
}

/// Rates used when the config sets none (per block, in the smallest unit of the denomination).
const DEFAULTS: [(&str, &str); 4] = [("cpu_per_core", "10"), ("memory_per_gi", "5"), ("endpoint", "1"), ("gpu", "200")];

fn default(field: &str) -> Option<String> {
    DEFAULTS.iter().find(|(f, _)| *f == field).map(|(_, v)| (*v).to_string())
}

impl Pricing {
    pub fn from_config(c: &PricingConfig, base_dir: &std::path::Path) -> anyhow::Result<Pricing> {
        let or_default = |field: &str, v: &Option<String>| price(field, &v.clone().or_else(|| default(field)));
        let mut storage = BTreeMap::new();
        storage.insert("ephemeral".to_string(), Dec::ONE);
        for (class, v) in &c.storage_per_gi {
            storage.insert(class.clone(), price(&format!("storage_per_gi.{class}"), &Some(v.clone()))?);
        }
        let mut gpu = BTreeMap::new();
        gpu.insert("*".to_string(), price("gpu", &default("gpu"))?);
        for (model, v) in &c.gpu {
            let key = if model == "*" { model.clone() } else { stratus_types::gpu::canonical_model(model) };
            gpu.insert(key, price(&format!("gpu.{model}"), &Some(v.clone()))?);
        }
        let script = c.script.as_ref().map(|s| if s.is_absolute() { s.clone() } else { base_dir.join(s) });
        Ok(Pricing {
            denoms: c.denoms.clone(),
            cpu_per_core: or_default("cpu_per_core", &c.cpu_per_core)?,
            memory_per_gi: or_default("memory_per_gi", &c.memory_per_gi)?,
            storage_per_gi: storage,
            endpoint: or_default("endpoint", &c.endpoint)?,
            gpu,
            script,
        })
    }

    fn gpu_rate(&self, model: &str) -> Dec {
        self.gpu.get(model).or_else(|| self.gpu.get("*")).copied().unwrap_or(Dec::ZERO)
    }

    /// The price per block for the whole group, or why there is none.
    pub fn quote(&self, owner: &Address, group: &GroupSpec, r: &Reservation) -> Result<Dec, String> {
        let price = match &self.script {
            Some(script) => run_script(script, owner, group, r)?,
            None => self.builtin(group, r)?,
        };
        if price.is_zero() {
            return Err("the computed price is 0; set the provider's pricing rates".into());
        }
        Ok(price)
    }

    fn builtin(&self, group: &GroupSpec, r: &Reservation) -> Result<Dec, String> {
        let overflow = || "price overflows".to_string();
        // Exact: raw (10^-18) rate × quantity ÷ unit, in u128.
        let part = |rate: Dec, qty: u128, unit: u128| -> Result<u128, String> {
            rate.raw().checked_mul(qty).map(|v| v / unit).ok_or_else(overflow)
        };
        let mut total: u128 = 0;
        for unit in &group.resources {
            let res = &unit.resources;
            let mut one: u128 = 0;
            one += part(self.cpu_per_core, u128::from(res.cpu_millis()), 1000)?;
            one += part(self.memory_per_gi, u128::from(res.memory_bytes()), GI)?;
            for v in &res.storage {
                let class = if v.is_ram() {
                    "ram".to_string()
                } else if v.is_persistent() {
                    v.class().unwrap_or("default").to_string()
                } else {
                    "ephemeral".to_string()
                };
                let rate = self.storage_per_gi.get(&class).copied().unwrap_or(Dec::ONE);
                one += part(rate, u128::from(v.quantity.0), GI)?;
            }
            one += part(self.endpoint, res.endpoints.len() as u128, 1)?;
            if res.gpu_units() > 0 {
                let model = r.unit_gpus.iter().find(|(u, _)| *u == res.id).map_or("*", |(_, d)| d.model.as_str());
                one += part(self.gpu_rate(model), u128::from(res.gpu_units()), 1)?;
            }
            total = total
                .checked_add(one.checked_mul(u128::from(unit.count)).ok_or_else(overflow)?)
                .ok_or_else(overflow)?;
        }
        // Bids carry at most 6 decimals: round up, never below cost.
        let step = DEC_SCALE / 1_000_000;
        Ok(Dec::from_raw(total.div_ceil(step) * step))
    }
}

/// The JSON Akash's provider sends to price scripts (`bidengine/shellscript.go`).
pub fn script_request(group: &GroupSpec, r: &Reservation) -> serde_json::Value {
    let resources: Vec<serde_json::Value> = group
        .resources
        .iter()
        .map(|unit| {
            let res = &unit.resources;
            let gpu = match r.unit_gpus.iter().find(|(u, _)| *u == res.id) {
                Some((_, d)) => json!({
                    "units": res.gpu_units(),
                    "attributes": { "vendor": { "nvidia": { "model": d.model, "ram": format!("{}Gi", d.ram_gi), "interface": d.interface } } }
                }),
                None => json!({ "units": res.gpu_units(), "attributes": {} }),
            };
            let storage: Vec<serde_json::Value> = res
                .storage
                .iter()
                .map(|v| {
                    let class = if v.is_persistent() || v.is_ram() { v.class().unwrap_or("default") } else { "ephemeral" };
                    json!({ "class": class, "size": v.quantity.0 })
                })
                .collect();
            json!({
                "memory": res.memory_bytes(),
                "cpu": res.cpu_millis(),
                "gpu": gpu,
                "storage": storage,
                "count": unit.count,
                "endpoint_quantity": res.endpoints.len(),
                "ip_lease_quantity": res.endpoints.iter().filter(|e| e.kind == stratus_types::resources::EndpointKind::LeasedIp).count(),
            })
        })
        .collect();
    let max = group.max_price().unwrap_or_default();
    json!({ "resources": resources, "price": { "denom": group.denom(), "amount": max.to_string() }, "price_precision": 6 })
}

fn run_script(script: &std::path::Path, owner: &Address, group: &GroupSpec, r: &Reservation) -> Result<Dec, String> {
    let input = script_request(group, r).to_string();
    let mut child = Command::new(script)
        .env("AKASH_OWNER", owner.to_string())
        .env("AKASH_DENOM", group.denom())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("price script {} cannot start: {e}", script.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > SCRIPT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "price script {} took longer than {} s",
                    script.display(),
                    SCRIPT_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("price script: {e}")),
        }
    }
    let out = child.wait_with_output().map_err(|e| format!("price script: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("price script exited with {}: {}", out.status, err.trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<Dec>().map_err(|e| format!("price script printed {:?}, not a price: {e}", text.trim()))
}

#[cfg(test)]
mod tests {
    use stratus_ledger::testkit::group;
    use stratus_types::market::OrderId;

    use super::*;
    use crate::pure::inventory::{ClusterSpec, GpuDevice, Inventory, NodeSpec, Strategy};

    fn reserve(g: &GroupSpec) -> Reservation {
        let mut inv = Inventory::new(&ClusterSpec {
            nodes: vec![NodeSpec {
                name: "n".into(),
                cpu_millis: 64_000,
                memory: 512 << 30,
                ephemeral: 1 << 40,
                gpus: vec![GpuDevice { model: "h100".into(), ram_gi: 80, interface: "sxm".into() }; 8],
            }],
            ..ClusterSpec::default()
        });
        inv.reserve(&OrderId { owner: Address([1; 20]), dseq: 1, gseq: 1, oseq: 1 }, g, Strategy::BestFit)
            .unwrap()
            .clone()
    }

    #[test]
    fn builtin_prices_each_resource_and_the_allocated_gpu_model() {
        let c = PricingConfig {
            cpu_per_core: Some("2".into()),
            memory_per_gi: Some("1".into()),
            gpu: [("h100".to_string(), "300".to_string()), ("*".to_string(), "100".to_string())].into(),
            ..PricingConfig::default()
        };
        let p = Pricing::from_config(&c, std::path::Path::new(".")).unwrap();
        // 2 replicas × (1 core × 2 + 1Gi × 1 + 1Gi ephemeral × 1 + 2 GPUs × 300).
        let mut g = group("g", 1000, 2, Some((2, "*")));
        g.resources[0].resources.gpu.as_mut().unwrap().attributes =
            vec![stratus_types::attributes::Attribute::new("vendor/nvidia/model/*", "true")];
        let r = reserve(&g);
        assert_eq!(p.quote(&Address([1; 20]), &g, &r), Ok(Dec::from_int(2 * (2 + 1 + 1 + 600)).unwrap()));
        let cpu_only = group("c", 10, 1, None);
        let r = reserve(&cpu_only);
        assert_eq!(p.quote(&Address([1; 20]), &cpu_only, &r), Ok(Dec::from_int(4).unwrap()));
    }

    #[test]
    fn scripts_get_akash_json_and_their_answer_is_the_price() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("price.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nread input\ncase \"$input\" in *'\"model\":\"h100\"'*) echo 123.5 ;; *) echo \"no gpu in $input\" >&2; exit 3 ;; esac\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        let c = PricingConfig { script: Some(script.clone()), ..PricingConfig::default() };
        let p = Pricing::from_config(&c, dir.path()).unwrap();
        let g = group("g", 1000, 1, Some((1, "h100")));
        let r = reserve(&g);
        assert_eq!(p.quote(&Address([1; 20]), &g, &r), Ok("123.5".parse().unwrap()));
        let cpu_only = group("c", 10, 1, None);
        let r = reserve(&cpu_only);
        let err = p.quote(&Address([1; 20]), &cpu_only, &r).unwrap_err();
        assert!(err.contains("exited with") && err.contains("no gpu in"), "{err}");
        let req = script_request(&g, &reserve(&g));
        assert_eq!(req["resources"][0]["gpu"]["attributes"]["vendor"]["nvidia"]["model"], "h100");
        assert_eq!(req["price"]["denom"], "uact");
    }
}
