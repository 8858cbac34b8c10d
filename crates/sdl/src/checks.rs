//! Limits the ledger enforces on groups (Akash `deployment/v1beta4` `ValidateDeploymentGroups`)
//! and rules every manifest must follow (`manifest/v2beta3` `Validate`), checked at parse time so
//! that a file that passes here is accepted on the ledger and by providers.

use std::collections::BTreeSet;

use stratus_types::attributes::{AttributeError, validate_attributes};
use stratus_types::dec::Dec;
use stratus_types::group::{GroupSpec, is_valid_denom};
use stratus_types::manifest::ManifestGroup;

use crate::build::UnitOrigin;
use crate::diag::{Pos, Sink};
use crate::gocompat::{is_dns1123_subdomain, is_env_var_name, is_service_name};
use crate::model::Model;

pub use stratus_types::group::{
    MAX_UNIT_COUNT, MAX_UNIT_CPU, MAX_UNIT_GPU, MAX_UNIT_MEMORY, MAX_UNIT_PRICE, MAX_UNIT_STORAGE, MIN_UNIT_CPU,
    MIN_UNIT_MEMORY, MIN_UNIT_STORAGE,
};

pub(crate) fn check_groups(groups: &[GroupSpec], origins: &[Vec<UnitOrigin>], m: &Model, sink: &mut Sink) {
    if groups.is_empty() {
        sink.error(
            Pos::new(1, 1),
            "deployment",
            "no deployment groups: add a deployment section that places at least one service",
        );
        return;
    }
    let first_denom = groups[0].denom().to_string();
    for (group, origins) in groups.iter().zip(origins) {
        let group_pos = origins.first().map_or_else(Pos::default, |o| o.deploy_pos);
        let group_path = || format!("profiles.placement.{}", group.name);
        if group.name.is_empty() {
            sink.error(group_pos, group_path(), "a placement needs a non-empty name");
        }
        let mut totals = (0u128, 0u128, 0u128);
        for (unit, origin) in group.resources.iter().zip(origins) {
            let r = &unit.resources;
            let compute = m.compute.get(&origin.profile).and_then(|c| c.resources.as_ref());
            let at = |pick: fn(&crate::resources::ComputeResources) -> Option<Pos>| {
                compute.and_then(pick).unwrap_or(origin.deploy_pos)
            };
            // Paths are formatted only when a check fails.
            let res_path = |field: &str| format!("profiles.compute.{}.resources.{field}", origin.profile);
            match &r.cpu {
                None => sink.error(at(|c| Some(c.pos)), res_path("cpu"), "CPU is required: add cpu: {units: 0.5}"),
                Some(cpu) => {
                    let v = cpu.units.0;
                    if !(MIN_UNIT_CPU..=MAX_UNIT_CPU).contains(&v) {
                        sink.error(
                            at(|c| c.cpu.as_ref().map(|c| c.pos)),
                            res_path("cpu.units"),
                            format!("{v} millicpu is outside {MIN_UNIT_CPU}..{MAX_UNIT_CPU} (0.01 to 384 cores)"),
                        );
                    }
                    report_attributes(
                        sink,
                        at(|c| c.cpu.as_ref().map(|c| c.pos)),
                        || res_path("cpu.attributes"),
                        validate_attributes(&cpu.attributes),
                    );
                }
            }
            if let Some(gpu) = &r.gpu {
                let gpu_at = at(|c| c.gpu.as_ref().map(|g| g.pos));
                if gpu.units.0 > MAX_UNIT_GPU {
                    sink.error(
                        gpu_at,
                        res_path("gpu.units"),
                        format!("{} GPUs per replica is more than {MAX_UNIT_GPU}", gpu.units.0),
                    );
                }
                if gpu.units.0 == 0 && !gpu.attributes.is_empty() {
                    sink.error(gpu_at, res_path("gpu"), "GPU attributes cannot be present if units == 0");
                }
                report_attributes(sink, gpu_at, || res_path("gpu.attributes"), validate_attributes(&gpu.attributes));
            }
            match &r.memory {
                None => {
                    sink.error(at(|c| Some(c.pos)), res_path("memory"), "memory is required: add memory: {size: 512Mi}")
                }
                Some(mem) => {
                    let v = mem.quantity.0;
                    if !(MIN_UNIT_MEMORY..=MAX_UNIT_MEMORY).contains(&v) {
                        sink.error(
                            at(|c| c.memory.as_ref().map(|m| m.pos)),
                            res_path("memory.size"),
                            format!("{v} bytes is outside 1Mi..2Ti"),
                        );
                    }
                }
            }
            if r.storage.is_empty() {
                sink.error(
                    at(|c| Some(c.pos)),
                    res_path("storage"),
                    "storage is required: add storage: {size: 1Gi} (ephemeral disk for the container)",
                );
            }
            let volumes = compute.and_then(|c| c.storage.as_ref());
            for vol in &r.storage {
                let vol_at =
                    volumes.and_then(|vs| vs.iter().find(|v| v.name == vol.name)).map_or(origin.deploy_pos, |v| v.pos);
                let v = vol.quantity.0;
                if !(MIN_UNIT_STORAGE..=MAX_UNIT_STORAGE).contains(&v) {
                    sink.error(
                        vol_at,
                        res_path("storage"),
                        format!("volume {:?}: {v} bytes is outside 5Mi..32Ti", vol.name),
                    );
                }
                report_attributes(sink, vol_at, || res_path("storage"), validate_attributes(&vol.attributes));
            }
            let count = u128::from(unit.count);
            totals.0 += u128::from(r.cpu_millis()) * count;
            totals.1 += u128::from(r.gpu_units()) * count;
            totals.2 += u128::from(r.memory_bytes()) * count;

            let price_path = || format!("profiles.placement.{}.pricing.{}", group.name, origin.profile);
            let price_at = m
                .placement
                .get(&group.name)
                .and_then(|p| p.pricing.get(&origin.profile))
                .map_or(origin.deploy_pos, |(pos, _)| *pos);
            if !is_valid_denom(&unit.price.denom) {
                sink.error(
                    price_at,
                    price_path(),
                    "invalid price: give denom and amount, e.g. {denom: uact, amount: 1000}",
                );
            } else if unit.price.amount > Dec::from_int(MAX_UNIT_PRICE).unwrap_or(Dec::ZERO) {
                sink.error(
                    price_at,
                    price_path(),
                    format!("price {} per block is above the limit of {MAX_UNIT_PRICE}", unit.price.amount),
                );
            }
            if unit.price.denom != group.denom() {
                sink.error(
                    price_at,
                    price_path(),
                    format!(
                        "all prices in a placement must use one denomination, found {:?} and {:?}",
                        group.denom(),
                        unit.price.denom
                    ),
                );
            }
        }
        let (cpu, gpu, mem) = totals;
        if cpu == 0 || cpu > u128::from(MAX_UNIT_CPU * MAX_UNIT_COUNT) {
            sink.error(
                group_pos,
                group_path(),
                format!(
                    "invalid total CPU {cpu} millicpu for the group (count × cpu must be 1..={}): is a count 0?",
                    MAX_UNIT_CPU * MAX_UNIT_COUNT
                ),
            );
        }
        if gpu > u128::from(MAX_UNIT_GPU * MAX_UNIT_COUNT) {
            sink.error(
                group_pos,
                group_path(),
                format!("invalid total GPU {gpu} for the group (at most {})", MAX_UNIT_GPU * MAX_UNIT_COUNT),
            );
        }
        if mem == 0 || mem > u128::from(MAX_UNIT_MEMORY) * u128::from(MAX_UNIT_COUNT) {
            sink.error(group_pos, group_path(), format!("invalid total memory {mem} bytes for the group"));
        }
        if group.denom() != first_denom {
            sink.error(
                group_pos,
                group_path(),
                format!(
                    "all placements must be priced in one denomination: found {first_denom:?} and {:?}",
                    group.denom()
                ),
            );
        }
    }
}

fn report_attributes(sink: &mut Sink, pos: Pos, path: impl FnOnce() -> String, result: Result<(), AttributeError>) {
    if let Err(e) = result {
        sink.error(pos, path(), e.to_string());
    }
}

/// Manifest rules: service names, images, environment names, ports, protocols and hostnames, and
/// at least one service reachable from outside.
pub(crate) fn check_manifest(manifest: &[ManifestGroup], m: &Model, sink: &mut Sink) {
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    let mut global = 0usize;
    for group in manifest {
        for svc in &group.services {
            let decl = m.services.get(&svc.name);
            let at = decl.map_or_else(Pos::default, |s| s.pos);
            let path = |field: &str| format!("services.{}{field}", svc.name);
            if !is_service_name(&svc.name) {
                sink.error(
                    at,
                    path(""),
                    format!(
                        "service name {:?} is invalid: use lowercase letters, digits and '-', starting with a letter",
                        svc.name
                    ),
                );
            }
            if svc.image.is_empty() {
                sink.error(at, path(".image"), "image is required, e.g. image: nginx:1.27");
            }
            for var in svc.env.iter().flatten() {
                let name = var.split_once('=').map_or(var.as_str(), |(n, _)| n);
                if !is_env_var_name(name) {
                    sink.error(
                        decl.map_or(at, |s| s.env_pos),
                        path(".env"),
                        format!("invalid environment variable name {name:?}: use letters, digits, '_', '-' and '.', not starting with a digit"),
                    );
                }
            }
            for e in &svc.expose {
                // The manifest's exposes are sorted and expanded per destination; point at the
                // SDL's own entry.
                let index = decl.and_then(|s| s.expose.iter().position(|x| x.port == e.port)).unwrap_or_default();
                let decl_expose = decl.and_then(|s| s.expose.get(index));
                let e_at = decl_expose.map_or(at, |x| x.pos);
                let e_path = |field: &str| path(&format!(".expose[{index}].{field}"));
                if e.port == 0 || e.port > 65535 {
                    sink.error(e_at, e_path("port"), format!("{} is outside 1..65535", e.port));
                }
                if e.global {
                    global += 1;
                }
                for host in e.hosts.iter().flatten() {
                    let h_at = decl_expose.map_or(e_at, |x| x.accept_pos);
                    if host.len() > 255 || !is_dns1123_subdomain(host) {
                        sink.error(
                            h_at,
                            e_path("accept"),
                            format!("{host:?} is not a valid hostname (lowercase letters, digits, '-' and '.')"),
                        );
                    } else if !hosts.insert(host) {
                        sink.error(
                            h_at,
                            e_path("accept"),
                            format!("hostname {host:?} is used twice; each host can be accepted once"),
                        );
                    }
                }
            }
        }
    }
    if global == 0 && !manifest.is_empty() {
        let at = m.services.values().next().map_or_else(|| Pos::new(1, 1), |s| s.pos);
        sink.error(
            at,
            "services",
            "zero global services: expose at least one port to the world, e.g. expose: [{port: 80, to: [{global: true}]}]",
        );
    }
}
