//! Builds GroupSpecs (what the ledger auctions) and the Manifest (what providers run) from the
//! model, in Akash's order (`groupBuilder_v2.go`, `groupBuilder_v2_1.go`, `expose.go`).
//!
//! One group per placement, sorted by name; services in sorted order. SDL 2.0 gives every
//! (service, placement) its own resource unit; 2.1 lets services of one placement that use the
//! same compute profile share a unit.

use std::collections::BTreeMap;

use stratus_types::attributes::Attribute;
use stratus_types::group::{DecCoin, GroupSpec, PlacementRequirements, ResourceUnit};
use stratus_types::manifest::{
    HttpOptions, ImageCredentials, ManifestGroup, Protocol, Service, ServiceExpose, ServiceParams, ServicePermissions,
    StorageParams, TeeParams,
};
use stratus_types::resources::Endpoint;

use crate::diag::{Pos, Sink};
use crate::model::{self, Model, SdlVersion};

/// Where a resource unit came from, to point diagnostics at the SDL.
#[derive(Clone, Debug)]
pub(crate) struct UnitOrigin {
    pub profile: String,
    pub deploy_pos: Pos,
}

pub(crate) struct Built {
    pub groups: Vec<GroupSpec>,
    pub manifest: Vec<ManifestGroup>,
    /// Per group, per unit: which profile and deployment entry made it.
    pub origins: Vec<Vec<UnitOrigin>>,
}

struct GroupBuilder {
    spec: GroupSpec,
    services: Vec<Service>,
    origins: Vec<UnitOrigin>,
    /// compute profile → index of its unit (SDL 2.1 sharing).
    bound: BTreeMap<String, usize>,
    tee: Option<String>,
}

pub(crate) fn build(version: SdlVersion, m: &Model, sink: &mut Sink) -> Built {
    let sequence = endpoint_sequence_numbers(m);
    let mut groups: BTreeMap<&str, GroupBuilder> = BTreeMap::new();

    for (svc_name, placements) in &m.deployment {
        for (placement_name, sd) in placements {
            let (Some(compute), Some(placement), Some(svc)) =
                (m.compute.get(&sd.profile), m.placement.get(placement_name), m.services.get(svc_name))
            else {
                continue; // reported by validate
            };
            let Some(resources) = &compute.resources else { continue };
            let price = placement.pricing.get(&sd.profile).and_then(|(_, p)| p.clone());
            let group = groups.entry(placement_name).or_insert_with(|| GroupBuilder {
                spec: GroupSpec {
                    name: placement_name.clone(),
                    requirements: PlacementRequirements {
                        signed_by: placement.signed_by.clone(),
                        attributes: placement.attributes.clone(),
                    },
                    resources: Vec::new(),
                },
                services: Vec::new(),
                origins: Vec::new(),
                bound: BTreeMap::new(),
                tee: None,
            });
            if let Some(params) = svc.params.as_ref().filter(|p| !p.tee.is_empty()) {
                let tee_path = format!("services.{svc_name}.params.tee");
                if params.tee != "cpu" && params.tee != "cpu-gpu" {
                    sink.error(
                        params.tee_pos,
                        &tee_path,
                        format!("unsupported tee type {:?}: use cpu or cpu-gpu", params.tee),
                    );
                } else if params.tee == "cpu-gpu" && resources.gpu_units() == 0 {
                    sink.error(
                        params.tee_pos,
                        &tee_path,
                        "tee type \"cpu-gpu\" requires gpu resources in the service's compute profile",
                    );
                } else {
                    match &group.tee {
                        Some(existing) if *existing != params.tee => sink.error(
                            params.tee_pos,
                            &tee_path,
                            format!(
                                "conflicting tee types in placement {placement_name:?}: {existing:?} and {:?}",
                                params.tee
                            ),
                        ),
                        Some(_) => {}
                        None => {
                            group.tee = Some(params.tee.clone());
                            let attrs = &mut group.spec.requirements.attributes;
                            attrs.push(Attribute::new("tee/type", params.tee.clone()));
                            attrs.sort_by(|a, b| a.key.cmp(&b.key));
                        }
                    }
                }
            }

            let expose = manifest_exposes(svc, svc_name, &sequence, sink);
            let endpoints: Vec<Endpoint> = expose.iter().flat_map(ServiceExpose::endpoints).collect();
            let mut svc_resources = resources.to_resources();
            svc_resources.endpoints = endpoints.clone();

            let shared = if version == SdlVersion::V2_1 { group.bound.get(&sd.profile).copied() } else { None };
            match shared {
                Some(at) => {
                    let unit = &mut group.spec.resources[at];
                    svc_resources.id = unit.resources.id;
                    unit.count = unit.count.saturating_add(sd.count);
                    unit.resources.endpoints.extend(endpoints);
                    // Akash sorts with sort.Sort; for up to 12 endpoints that is an insertion sort,
                    // which is stable.
                    insertion_sort_by(&mut unit.resources.endpoints, |a, b| a.sequence_number < b.sequence_number);
                }
                None => {
                    let id = u32::try_from(group.spec.resources.len() + 1).unwrap_or(u32::MAX);
                    svc_resources.id = id;
                    let mut unit_resources = resources.to_resources();
                    unit_resources.id = id;
                    unit_resources.endpoints = endpoints;
                    group.spec.resources.push(ResourceUnit {
                        resources: unit_resources,
                        count: sd.count,
                        price: price.map_or_else(DecCoin::default, |p| DecCoin::new(p.denom, p.amount)),
                    });
                    group.origins.push(UnitOrigin { profile: sd.profile.clone(), deploy_pos: sd.pos });
                    group.bound.insert(sd.profile.clone(), group.spec.resources.len() - 1);
                }
            }

            group.services.push(Service {
                name: svc_name.clone(),
                image: svc.image.clone(),
                command: svc.command.clone(),
                args: svc.args.clone(),
                env: svc.env.clone(),
                resources: svc_resources,
                count: sd.count,
                expose,
                params: svc.params.as_ref().map(manifest_params),
                credentials: svc.credentials.as_ref().map(|c| credentials(version, c)),
            });
        }
    }

    let mut built = Built {
        groups: Vec::with_capacity(groups.len()),
        manifest: Vec::with_capacity(groups.len()),
        origins: Vec::with_capacity(groups.len()),
    };
    for (name, mut g) in groups {
        g.services.sort_by(|a, b| a.name.cmp(&b.name));
        built.groups.push(g.spec);
        built.manifest.push(ManifestGroup { name: name.to_string(), services: g.services });
        built.origins.push(g.origins);
    }
    built
}

/// Numbers the IP endpoints: every deployed service's `to` entries, except global ones without
/// an IP, contribute their `ip` (non-global ones contribute ""); the list is sorted and numbered
/// from 1, and a name keeps the number of its last occurrence.
fn endpoint_sequence_numbers(m: &Model) -> BTreeMap<String, u32> {
    let mut names: Vec<&str> = Vec::new();
    for svc_name in m.deployment.keys() {
        let Some(svc) = m.services.get(svc_name) else { continue };
        for expose in &svc.expose {
            for to in &expose.to {
                if to.global && to.ip.is_empty() {
                    continue;
                }
                names.push(&to.ip);
            }
        }
    }
    names.sort_unstable();
    let mut out = BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        out.insert(name.to_string(), u32::try_from(i + 1).unwrap_or(u32::MAX));
    }
    out
}

fn manifest_exposes(
    svc: &model::Service,
    svc_name: &str,
    sequence: &BTreeMap<String, u32>,
    sink: &mut Sink,
) -> Vec<ServiceExpose> {
    let mut out = Vec::with_capacity(svc.expose.len());
    for (i, e) in svc.expose.iter().enumerate() {
        // Paths are formatted only when something is wrong: this loop is hot.
        let path = |field: &str| format!("services.{svc_name}.expose[{i}].{field}");
        let proto = if e.proto.is_empty() || e.proto.eq_ignore_ascii_case("tcp") {
            Protocol::Tcp
        } else if e.proto.eq_ignore_ascii_case("udp") {
            Protocol::Udp
        } else {
            sink.error(
                e.proto_pos,
                path("proto"),
                format!("unsupported service protocol {:?}: use tcp or udp", e.proto),
            );
            Protocol::Tcp
        };
        let http_options =
            manifest_http_options(&e.http_options, &|field| path(&format!("http_options.{field}")), sink);
        let base = ServiceExpose {
            port: e.port,
            external_port: e.external_port,
            proto,
            service: String::new(),
            global: false,
            hosts: e.accept.clone(),
            http_options,
            ip: String::new(),
            endpoint_sequence_number: 0,
        };
        if e.to.is_empty() {
            out.push(base);
            continue;
        }
        for to in &e.to {
            let mut x = base.clone();
            x.service = to.service.clone();
            x.global = to.global;
            x.ip = to.ip.clone();
            if to.global && !to.ip.is_empty() {
                x.endpoint_sequence_number = sequence.get(&to.ip).copied().unwrap_or(0);
            }
            out.push(x);
        }
    }
    insertion_sort_by(&mut out, expose_less);
    out
}

/// Akash's expose order: service, port, protocol, then global before local.
fn expose_less(a: &ServiceExpose, b: &ServiceExpose) -> bool {
    if a.service != b.service {
        return a.service < b.service;
    }
    if a.port != b.port {
        return a.port < b.port;
    }
    if a.proto != b.proto {
        return a.proto.as_str() < b.proto.as_str();
    }
    a.global && !b.global
}

const NEXT_CASES: &[&str] = &["error", "timeout", "500", "502", "503", "504", "403", "404", "429", "off"];

fn manifest_http_options(h: &model::HttpOptions, path: &dyn Fn(&str) -> String, sink: &mut Sink) -> HttpOptions {
    let mut out = HttpOptions {
        max_body_size: if h.max_body_size == 0 { 1_048_576 } else { h.max_body_size },
        read_timeout: if h.read_timeout == 0 { 60_000 } else { h.read_timeout },
        send_timeout: if h.send_timeout == 0 { 60_000 } else { h.send_timeout },
        next_tries: if h.next_tries == 0 { 3 } else { h.next_tries },
        next_timeout: h.next_timeout,
        next_cases: if h.next_cases.is_empty() {
            vec!["error".to_string(), "timeout".to_string()]
        } else {
            h.next_cases.clone()
        },
        proxy_buffer_size: h.proxy_buffer_size,
    };
    let mut fail = |field: &str, message: String| sink.error(h.pos, path(field), message);
    if out.max_body_size > 104_857_600 {
        fail("max_body_size", format!("{} is above the limit of 104857600 bytes (100 MiB)", out.max_body_size));
    }
    if out.proxy_buffer_size > 1_048_576 {
        fail("proxy_buffer_size", format!("{} is above the limit of 1048576 bytes (1 MiB)", out.proxy_buffer_size));
    }
    if out.read_timeout > 60_000 {
        fail("read_timeout", format!("{} ms is above the limit of 60000 ms", out.read_timeout));
    }
    if out.send_timeout > 60_000 {
        fail("send_timeout", format!("{} ms is above the limit of 60000 ms", out.send_timeout));
    }
    for case in &h.next_cases {
        if case == "off" && h.next_cases.len() != 1 {
            fail("next_cases", "if \"off\" is given, no other cases may be given".to_string());
        } else if !NEXT_CASES.contains(&case.as_str()) {
            fail("next_cases", format!("next case {case:?} is unknown (use {})", NEXT_CASES.join(", ")));
        }
    }
    out.next_cases.shrink_to_fit();
    out
}

fn manifest_params(p: &model::Params) -> ServiceParams {
    ServiceParams {
        storage: (!p.storage.is_empty()).then(|| {
            p.storage
                .iter()
                .map(|(name, s)| StorageParams { name: name.clone(), mount: s.mount.clone(), read_only: s.read_only })
                .collect()
        }),
        credentials: None,
        permissions: p.permissions.as_ref().map(|read| ServicePermissions { read: read.clone() }),
        tee: (!p.tee.is_empty()).then(|| TeeParams { kind: p.tee.clone(), attestation: true }),
    }
}

/// SDL 2.0 drops `email` and keeps values as written; 2.1 keeps `email` and trims whitespace.
fn credentials(version: SdlVersion, c: &model::Credentials) -> ImageCredentials {
    match version {
        SdlVersion::V2_0 => ImageCredentials {
            host: c.host.clone(),
            email: String::new(),
            username: c.username.clone(),
            password: c.password.clone(),
        },
        SdlVersion::V2_1 => ImageCredentials {
            host: c.host.trim().to_string(),
            email: c.email.trim().to_string(),
            username: c.username.trim().to_string(),
            password: c.password.trim().to_string(),
        },
    }
}

/// Go's insertion sort (what `sort.Sort` does for up to 12 elements): stable, and exactly
/// reproduces Go's result for comparisons that are not total orders.
pub(crate) fn insertion_sort_by<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}
