//! Does a tenant's manifest match what its lease pays for? Akash's `CheckAgainstDeployment`:
//! the version hash must equal the deployment's on the ledger, the leased group must be in the
//! manifest, every service must use one of the group's resource units with exactly its CPU,
//! memory, GPU and storage, the replicas must add up to each unit's count, and the services'
//! global ports must need exactly the endpoints the group reserved.

use stratus_types::group::GroupSpec;
use stratus_types::manifest::{Manifest, ManifestGroup, manifest_version};
use stratus_types::resources::Endpoint;

/// The manifest's version must be the deployment's.
pub fn check_version(manifest: &Manifest, on_ledger: &[u8; 32]) -> Result<(), String> {
    let got = manifest_version(manifest);
    if &got != on_ledger {
        return Err(format!(
            "manifest version {} does not match the deployment's {} on the ledger (send the manifest of the SDL the deployment was created or last updated with)",
            hex::encode(got),
            hex::encode(on_ledger)
        ));
    }
    Ok(())
}

fn sorted(mut e: Vec<Endpoint>) -> Vec<(u8, u32)> {
    let mut v: Vec<(u8, u32)> = e.drain(..).map(|e| (e.kind.code(), e.sequence_number)).collect();
    v.sort_unstable();
    v
}

/// The manifest group for `spec` (by name), checked against it.
pub fn check_group<'a>(manifest: &'a Manifest, spec: &GroupSpec) -> Result<&'a ManifestGroup, String> {
    let group = manifest
        .iter()
        .find(|g| g.name == spec.name)
        .ok_or_else(|| format!("the manifest has no group {:?}, which this lease is for", spec.name))?;
    for svc in &group.services {
        let Some(unit) = spec.resources.iter().find(|u| u.resources.id == svc.resources.id) else {
            return Err(format!(
                "service {} uses resources {} that group {} does not have",
                svc.name, svc.resources.id, spec.name
            ));
        };
        if !svc.resources.same_compute_as(&unit.resources) {
            return Err(format!(
                "service {} asks for different CPU, memory, GPU or storage than the lease's resources {} pay for",
                svc.name, unit.resources.id
            ));
        }
        let needed: Vec<Endpoint> =
            svc.expose.iter().flat_map(stratus_types::manifest::ServiceExpose::endpoints).collect();
        if sorted(needed) != sorted(svc.resources.endpoints.clone()) {
            return Err(format!("service {}'s exposed ports do not match its endpoints", svc.name));
        }
    }
    for unit in &spec.resources {
        let services: Vec<_> = group.services.iter().filter(|s| s.resources.id == unit.resources.id).collect();
        let replicas: u32 = services.iter().map(|s| s.count).sum();
        if replicas != unit.count {
            return Err(format!(
                "resources {} are leased for {} replica(s); the manifest runs {replicas}",
                unit.resources.id, unit.count
            ));
        }
        let endpoints: Vec<Endpoint> = services
            .iter()
            .flat_map(|s| std::iter::repeat_n(s.resources.endpoints.clone(), s.count as usize))
            .flatten()
            .collect();
        let per_replica: Vec<Endpoint> = services.iter().flat_map(|s| s.resources.endpoints.clone()).collect();
        // The group counts endpoints per service (Akash), not per replica.
        let want = sorted(unit.resources.endpoints.clone());
        if sorted(per_replica) != want && sorted(endpoints) != want {
            return Err(format!(
                "the manifest's ports need other endpoints than resources {} reserved",
                unit.resources.id
            ));
        }
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = "version: \"2.0\"
services:
  web:
    image: nginx
    expose:
      - port: 80
        to:
          - global: true
  db:
    image: postgres
    expose:
      - port: 5432
        to:
          - service: web
profiles:
  compute:
    small:
      resources: {cpu: {units: 1}, memory: {size: 1Gi}, storage: {size: 1Gi}}
  placement:
    dc:
      pricing:
        small: {denom: uact, amount: 100}
deployment:
  web:
    dc: {profile: small, count: 2}
  db:
    dc: {profile: small, count: 1}
";

    fn sdl() -> stratus_sdl::Sdl {
        stratus_sdl::parse_str(SDL).sdl.expect("valid")
    }

    #[test]
    fn the_sdls_own_manifest_passes() {
        let s = sdl();
        check_version(&s.manifest, &s.manifest_version).unwrap();
        assert_eq!(check_group(&s.manifest, &s.groups[0]).unwrap().name, "dc");
    }

    #[test]
    fn tampering_is_refused_with_a_reason() {
        let s = sdl();
        let mut m = s.manifest.clone();
        m[0].services[0].count += 1;
        assert!(check_version(&m, &s.manifest_version).unwrap_err().contains("does not match the deployment's"));
        assert!(check_group(&m, &s.groups[0]).unwrap_err().contains("the manifest runs"), "replica count");
        let mut m = s.manifest.clone();
        m[0].services[0].resources.memory.as_mut().unwrap().quantity.0 *= 2;
        assert!(check_group(&m, &s.groups[0]).unwrap_err().contains("different CPU, memory"));
        let mut m = s.manifest.clone();
        m[0].name = "other".into();
        assert!(check_group(&m, &s.groups[0]).unwrap_err().contains("has no group \"dc\""));
        let mut m = s.manifest.clone();
        let web = m[0].services.iter_mut().find(|s| s.name == "web").unwrap();
        web.expose[0].global = false;
        assert!(check_group(&m, &s.groups[0]).unwrap_err().contains("exposed ports"));
    }
}
