//! Cross-reference checks between sections (Akash `v2.go`/`v2_1.go` `validate()`): every deployment
//! names an existing service, compute profile, placement and price; IP endpoints are declared,
//! global and used; volumes referenced by services exist and are mounted sensibly.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Sink, join};
use crate::gocompat::{is_abs_path, is_endpoint_name};
use crate::model::{Model, SdlVersion};

pub(crate) fn validate(version: SdlVersion, m: &Model, sink: &mut Sink) {
    if let Some(r) = &m.reclamation
        && let Err(e) = r.window_seconds()
    {
        sink.error(r.pos, "reclamation.min_window", format!("invalid reclamation min_window: {e}"));
    }

    for (name, decl) in &m.endpoints {
        let path = || format!("endpoints.{name}");
        if !is_endpoint_name(name) {
            sink.error(
                decl.pos,
                path(),
                format!("endpoint named {name:?} is not a valid name: use lowercase letters first, then lowercase letters, digits, '-' or '_'"),
            );
        } else if decl.kind.is_empty() {
            sink.error(decl.pos, path(), format!("endpoint named {name:?} has no kind: add kind: ip"));
        } else if decl.kind != "ip" {
            sink.error(
                decl.pos,
                path(),
                format!("endpoint named {name:?} has unknown kind {:?}: the only kind is ip", decl.kind),
            );
        }
    }

    let mut endpoints_used: BTreeSet<&str> = BTreeSet::new();
    let mut ports_used: BTreeMap<String, &str> = BTreeMap::new();
    for (svc_name, placements) in &m.deployment {
        for (placement_name, sd) in placements {
            let path = || format!("deployment.{svc_name}.{placement_name}");
            let Some(compute) = m.compute.get(&sd.profile) else {
                sink.error(
                    sd.pos,
                    path(),
                    format!("no compute profile named {:?}: define it under profiles.compute", sd.profile),
                );
                continue;
            };
            let Some(placement) = m.placement.get(placement_name) else {
                sink.error(
                    sd.pos,
                    path(),
                    format!("no placement profile named {placement_name:?}: define it under profiles.placement"),
                );
                continue;
            };
            if !placement.pricing.contains_key(&sd.profile) {
                sink.error(
                    sd.pos,
                    path(),
                    format!("no pricing for profile {:?} in placement {placement_name:?}: add profiles.placement.{placement_name}.pricing.{}", sd.profile, sd.profile),
                );
                continue;
            }
            let Some(svc) = m.services.get(svc_name) else {
                sink.error(sd.pos, path(), format!("no service profile named {svc_name:?}: define it under services"));
                continue;
            };
            let svc_path = |field: &str| format!("services.{svc_name}.{field}");

            if let Some(c) = &svc.credentials {
                for (field, value) in [("host", &c.host), ("username", &c.username), ("password", &c.password)] {
                    if value.trim().is_empty() {
                        sink.error(
                            c.pos,
                            svc_path("credentials"),
                            format!("service credentials missing {field}: private registry credentials need host, username and password"),
                        );
                    }
                }
            }

            for (i, expose) in svc.expose.iter().enumerate() {
                for (j, to) in expose.to.iter().enumerate() {
                    if to.ip.is_empty() {
                        continue;
                    }
                    let to_path = || svc_path(&format!("expose[{i}].to[{j}]"));
                    if !to.global {
                        sink.error(
                            to.pos,
                            to_path(),
                            format!("service {svc_name:?} declares IP endpoint {:?}, so this entry must also say global: true", to.ip),
                        );
                        continue;
                    }
                    let Some(endpoint) = m.endpoints.get(&to.ip) else {
                        sink.error(
                            to.pos,
                            to_path(),
                            format!("no endpoint named {:?} exists: declare it under endpoints with kind: ip", to.ip),
                        );
                        continue;
                    };
                    if endpoint.kind != "ip" {
                        continue; // reported with the endpoint
                    }
                    endpoints_used.insert(&to.ip);
                    let key = format!("{}-{}-{}", to.ip, expose.external_port, expose.proto);
                    // Any second use is a collision, even by the same service in another placement.
                    if let Some(other) = ports_used.get(&key) {
                        sink.error(
                            to.pos,
                            to_path(),
                            format!(
                                "IP endpoint {:?} port {} protocol {:?} is already used by service {other:?}",
                                to.ip, expose.port, expose.proto
                            ),
                        );
                    } else {
                        ports_used.insert(key, svc_name);
                    }
                }
            }

            let Some(resources) = &compute.resources else {
                sink.error(
                    compute.pos,
                    join("profiles.compute", &sd.profile),
                    "compute profile has no resources: add resources with cpu, memory and storage",
                );
                continue;
            };
            let volumes: BTreeMap<&str, &crate::resources::Volume> =
                resources.storage.iter().flatten().map(|v| (v.name.as_str(), v)).collect();
            let mut mounts: BTreeMap<&str, &str> = BTreeMap::new();
            let storage_params = svc.params.as_ref().map(|p| &p.storage);
            for (name, params) in storage_params.into_iter().flatten() {
                let param_path = |field: &str| svc_path(&format!("params.storage.{name}{field}"));
                let Some(volume) = volumes.get(name.as_str()) else {
                    // Akash names the volume of a single-mapping `storage:` "default", whatever
                    // its `name:` says; people trip on that.
                    let single = resources.storage.as_ref().is_some_and(|v| v.len() == 1 && v[0].name == "default");
                    let hint = if single {
                        "; a `storage:` written as one mapping is always named \"default\" (Akash ignores its `name:`), so write storage as a list: storage: [{name: ..., size: ...}]"
                    } else {
                        ""
                    };
                    sink.error(
                        params.pos,
                        param_path(""),
                        format!("service {svc_name:?} references a volume named {name:?} that compute profile {:?} does not define{hint}", sd.profile),
                    );
                    continue;
                };
                if !is_abs_path(&params.mount) {
                    sink.error(
                        params.pos,
                        param_path(".mount"),
                        format!("mount {:?} must be an absolute path like /data", params.mount),
                    );
                    continue;
                }
                if let Some(other) = mounts.get(params.mount.as_str()) {
                    sink.error(
                        params.pos,
                        param_path(".mount"),
                        format!("duplicated mount point: {:?} is already used by volume {other:?}", params.mount),
                    );
                    continue;
                }
                mounts.insert(&params.mount, name);
                let class = volume.attributes.iter().flatten().find(|a| a.key == "class").map(|a| a.value.as_str());
                if version == SdlVersion::V2_1 && class == Some("ram") && params.read_only {
                    sink.error(
                        params.pos,
                        param_path(".readOnly"),
                        "readOnly: true is not allowed for storage class \"ram\"",
                    );
                }
            }
            // SDL 2.0 only checks persistent volumes when the service mounts nothing at all (Akash
            // merges all mounts into one map); 2.1 checks only mounted volumes, whose mounts are
            // already required to be absolute.
            if version == SdlVersion::V2_0 && storage_params.is_none_or(|p| p.is_empty()) {
                for v in resources.storage.iter().flatten() {
                    let persistent = v.attributes.iter().flatten().any(|a| a.key == "persistent" && a.value == "true");
                    if persistent {
                        sink.error(
                            v.pos,
                            join(&join("profiles.compute", &sd.profile), "resources.storage"),
                            format!(
                                "volume {:?} has persistent: true, which requires services.{svc_name}.params.storage.{} to give it a mount",
                                v.name, v.name
                            ),
                        );
                    }
                }
            }
        }
    }

    for (name, decl) in &m.endpoints {
        if !endpoints_used.contains(name.as_str()) {
            sink.error(
                decl.pos,
                join("endpoints", name),
                format!("endpoint {name:?} declared but never used: reference it with `ip: {name}` in an expose, or remove it"),
            );
        }
    }

    for (name, svc) in &m.services {
        if !m.deployment.contains_key(name) {
            sink.warn(
                svc.pos,
                join("services", name),
                "service is not deployed (no entry under deployment), so it is ignored",
            );
        }
    }
}
