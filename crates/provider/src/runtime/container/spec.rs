//! What the container backend creates for a lease, as plain data: one network, named volumes and
//! one container per replica, every object labelled with the lease it belongs to. Pure: the
//! engine calls live in the parent module.

use std::collections::BTreeMap;

use stratus_types::manifest::{ImageCredentials, Protocol, Service};
use stratus_types::market::LeaseId;

use crate::runtime::{LeaseDeployment, lease_key};

/// Label keys. `LEASE` carries [`lease_key`]; the others let a restarted provider rebuild the
/// lease id from the engine alone.
pub const LEASE: &str = "io.stratus.lease";
pub const OWNER: &str = "io.stratus.owner";
pub const DSEQ: &str = "io.stratus.dseq";
pub const GSEQ: &str = "io.stratus.gseq";
pub const OSEQ: &str = "io.stratus.oseq";
pub const PROVIDER: &str = "io.stratus.provider";
pub const SERVICE: &str = "io.stratus.service";
pub const REPLICA: &str = "io.stratus.replica";
pub const VERSION: &str = "io.stratus.version";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeMount {
    /// The engine's volume name (one per replica and volume).
    pub name: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedPort {
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// The host port, for ports exposed to the world.
    pub host_port: Option<u16>,
}

/// One replica's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPlan {
    pub name: String,
    pub service: String,
    pub index: u32,
    pub image: String,
    pub credentials: Option<ImageCredentials>,
    /// The SDL's `command` replaces the image's entrypoint, its `args` the image's command.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`. Values are secrets to logs: never printed.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub memory: u64,
    pub nano_cpus: u64,
    /// A `ram` volume at `/dev/shm` becomes the shared-memory size.
    pub shm_size: Option<u64>,
    /// Other `ram` volumes: tmpfs of that size at their mount.
    pub tmpfs: BTreeMap<String, u64>,
    pub volumes: Vec<VolumeMount>,
    pub ports: Vec<PublishedPort>,
    /// GPU indices the inventory assigned.
    pub gpus: Vec<String>,
    /// Ephemeral storage (enforced where the engine supports a size option).
    pub ephemeral: u64,
}

pub fn network_name(lease: &LeaseId) -> String {
    format!("stratus-{}", lease_key(lease))
}

pub fn container_name(lease: &LeaseId, service: &str, index: u32) -> String {
    format!("stratus-{}-{service}-{index}", lease_key(lease))
}

pub fn volume_name(lease: &LeaseId, service: &str, index: u32, volume: &str) -> String {
    format!("stratus-{}-{service}-{index}-{volume}", lease_key(lease))
}

/// Labels naming the lease (for every object).
pub fn lease_labels(lease: &LeaseId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LEASE.to_string(), lease_key(lease)),
        (OWNER.to_string(), lease.owner.to_string()),
        (DSEQ.to_string(), lease.dseq.to_string()),
        (GSEQ.to_string(), lease.gseq.to_string()),
        (OSEQ.to_string(), lease.oseq.to_string()),
        (PROVIDER.to_string(), lease.provider.to_string()),
    ])
}

/// The lease an object belongs to, from its labels.
pub fn lease_of(labels: &std::collections::HashMap<String, String>) -> Option<LeaseId> {
    let order = stratus_types::market::DeploymentId {
        owner: labels.get(OWNER)?.parse().ok()?,
        dseq: labels.get(DSEQ)?.parse().ok()?,
    }
    .group(labels.get(GSEQ)?.parse().ok()?)
    .order(labels.get(OSEQ)?.parse().ok()?);
    Some(order.bid(labels.get(PROVIDER)?.parse().ok()?))
}

/// The containers of a deployment, in service order.
pub fn plan(d: &LeaseDeployment, public_host: &str) -> Result<Vec<ContainerPlan>, String> {
    let version = d.version();
    let mut out = Vec::new();
    for svc in &d.group.services {
        for index in 0..svc.count {
            out.push(plan_replica(d, svc, index, &version, public_host)?);
        }
    }
    Ok(out)
}

fn plan_replica(
    d: &LeaseDeployment,
    svc: &Service,
    index: u32,
    version: &str,
    public_host: &str,
) -> Result<ContainerPlan, String> {
    let mut labels = lease_labels(&d.lease);
    labels.insert(SERVICE.into(), svc.name.clone());
    labels.insert(REPLICA.into(), index.to_string());
    labels.insert(VERSION.into(), version.to_string());
    let placement = d.reservation.replicas.iter().find(|p| p.unit == svc.resources.id && p.index == index);
    let gpus: Vec<String> = placement.map(|p| p.gpus.iter().map(usize::to_string).collect()).unwrap_or_default();
    let mut env = Vec::new();
    if !gpus.is_empty() {
        env.push(format!("NVIDIA_VISIBLE_DEVICES={}", gpus.join(",")));
    }
    env.extend([
        format!("AKASH_OWNER={}", d.lease.owner),
        format!("AKASH_PROVIDER={}", d.lease.provider),
        format!("AKASH_DEPLOYMENT_SEQUENCE={}", d.lease.dseq),
        format!("AKASH_GROUP_SEQUENCE={}", d.lease.gseq),
        format!("AKASH_ORDER_SEQUENCE={}", d.lease.oseq),
        format!("AKASH_CLUSTER_PUBLIC_HOSTNAME={public_host}"),
    ]);
    env.extend(svc.env.clone().unwrap_or_default());
    let mounts = crate::runtime::volume_mounts(svc);
    let (mut shm_size, mut tmpfs, mut volumes, mut ephemeral) = (None, BTreeMap::new(), Vec::new(), 0);
    for vol in &svc.resources.storage {
        let Some((mount, read_only)) = mounts.get(&vol.name) else {
            // Not mounted: the container's own writable layer.
            ephemeral += vol.quantity.0;
            continue;
        };
        if !mount.starts_with('/') {
            return Err(format!("service {}: volume {} mount {mount:?} is not absolute", svc.name, vol.name));
        }
        if vol.is_ram() {
            if mount == "/dev/shm" {
                shm_size = Some(vol.quantity.0);
            } else {
                tmpfs.insert(mount.clone(), vol.quantity.0);
            }
        } else {
            // Persistent or not, a named volume: persistent ones are kept across manifest
            // updates and provider restarts; both go with the lease.
            volumes.push(VolumeMount {
                name: volume_name(&d.lease, &svc.name, index, &vol.name),
                target: mount.clone(),
                read_only: *read_only,
            });
        }
    }
    let mut ports: Vec<PublishedPort> = Vec::new();
    for e in &svc.expose {
        let Ok(port) = u16::try_from(e.port) else { continue };
        let proto = if e.proto == Protocol::Udp { "udp" } else { "tcp" };
        let host_port = if e.global { d.host_ports.get(&format!("{}:{}", svc.name, e.port)).copied() } else { None };
        match ports.iter_mut().find(|p| p.port == port && p.proto == proto) {
            Some(p) => p.host_port = p.host_port.or(host_port),
            None => ports.push(PublishedPort { port, proto, host_port }),
        }
    }
    Ok(ContainerPlan {
        name: container_name(&d.lease, &svc.name, index),
        service: svc.name.clone(),
        index,
        image: svc.image.clone(),
        credentials: svc.credentials.clone().or_else(|| svc.params.as_ref().and_then(|p| p.credentials.clone())),
        entrypoint: svc.command.clone().filter(|c| !c.is_empty()),
        cmd: svc.args.clone().filter(|a| !a.is_empty()),
        env,
        labels,
        memory: svc.resources.memory_bytes(),
        nano_cpus: svc.resources.cpu_millis().saturating_mul(1_000_000),
        shm_size,
        tmpfs,
        volumes,
        ports,
        gpus,
        ephemeral,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    const SDL: &str = r#"
version: "2.0"
services:
  web:
    image: ghcr.io/acme/app:1
    command: ["python3", "-m", "app"]
    args: ["--port", "8080"]
    env: ["TOKEN=s3cret"]
    expose:
      - port: 8080
        as: 80
        to: [{global: true}]
      - port: 9000
        to: [{service: db}]
    params:
      storage:
        data: {mount: /data}
        shm: {mount: /dev/shm}
        cache: {mount: /cache, readOnly: false}
profiles:
  compute:
    web:
      resources:
        cpu: {units: 1.5}
        memory: {size: 2Gi}
        storage:
          - size: 1Gi
          - name: data
            size: 5Gi
            attributes: {persistent: true, class: beta3}
          - name: shm
            size: 1Gi
            attributes: {class: ram, persistent: false}
          - name: cache
            size: 512Mi
            attributes: {class: ram, persistent: false}
  placement:
    dc:
      pricing:
        web: {denom: uact, amount: 100}
deployment:
  web:
    dc: {profile: web, count: 2}
"#;

    fn deployment() -> LeaseDeployment {
        let sdl = stratus_sdl::parse_str(SDL).sdl.expect("valid");
        let lease = stratus_types::market::DeploymentId { owner: stratus_types::address::Address([1; 20]), dseq: 9 }
            .group(1)
            .order(1)
            .bid(stratus_types::address::Address([2; 20]));
        LeaseDeployment {
            reservation: crate::pure::inventory::Reservation {
                order: lease.order(),
                replicas: vec![],
                persistent: vec![],
                unit_gpus: vec![],
                allocated: true,
            },
            lease,
            group: sdl.manifest[0].clone(),
            host_ports: BTreeMap::from([("web:8080".to_string(), 32001)]),
        }
    }

    #[test]
    fn a_replica_gets_its_resources_volumes_ports_and_labels() {
        let d = deployment();
        let plans = plan(&d, "provider.example").unwrap();
        assert_eq!(plans.len(), 2);
        let p = &plans[1];
        assert_eq!(p.name, container_name(&d.lease, "web", 1));
        assert_eq!(p.entrypoint.as_deref(), Some(&["python3".to_string(), "-m".into(), "app".into()][..]));
        assert_eq!(p.cmd.as_deref(), Some(&["--port".to_string(), "8080".into()][..]));
        assert_eq!((p.memory, p.nano_cpus), (2 << 30, 1_500_000_000));
        assert_eq!(p.shm_size, Some(1 << 30), "a ram volume at /dev/shm is the shm size");
        assert_eq!(p.tmpfs, BTreeMap::from([("/cache".to_string(), 512 << 20)]));
        assert_eq!(
            p.volumes,
            vec![VolumeMount {
                name: volume_name(&d.lease, "web", 1, "data"),
                target: "/data".into(),
                read_only: false
            }]
        );
        assert_eq!(p.ephemeral, 1 << 30);
        assert_eq!(
            p.ports,
            vec![
                PublishedPort { port: 8080, proto: "tcp", host_port: Some(32001) },
                PublishedPort { port: 9000, proto: "tcp", host_port: None },
            ]
        );
        assert!(
            p.env.contains(&"TOKEN=s3cret".to_string())
                && p.env.iter().any(|e| e.starts_with("AKASH_DEPLOYMENT_SEQUENCE=9"))
        );
        assert_eq!(p.labels[VERSION], d.version());
        assert_eq!(p.labels[REPLICA], "1");
        let labels: HashMap<String, String> = p.labels.clone().into_iter().collect();
        assert_eq!(lease_of(&labels), Some(d.lease.clone()), "the lease id comes back from the labels");
    }
}
