//! Does a provider meet a group's placement? The ledger refuses bids that do not, and the
//! provider's bid engine uses the same functions to explain why it declined an order.
//!
//! Semantics follow Akash (`attributes/v1`, `deployment/v1beta4/groupspec.go`): requirement keys
//! may be globs (Go's `filepath.Match`); with `signedBy`, requirements are checked against
//! auditor-signed attributes only; storage volumes with attributes need a provider storage class
//! group containing them; GPUs need any of their model keys among the provider's GPU
//! capabilities. Unlike Akash, GPU model names are compared canonically (`gpu` module).

use std::collections::BTreeMap;
use std::fmt;

use crate::attributes::{Attribute, attributes_any_of, attributes_subset_of};
use crate::gpu::canonicalize_gpu_key;
use crate::group::GroupSpec;
use crate::market::AuditedAttributes;
use crate::params::AuditorAlias;

/// Why a provider does not meet a group, in words a tenant can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A required attribute the provider does not have.
    Attribute { key: String, value: String },
    /// `signedBy.allOf` names an auditor that has not signed the required attributes.
    NotSignedByAll { auditor: String, attributes: Vec<String>, signed: Vec<String> },
    /// `signedBy.anyOf`: none of the auditors signed the required attributes.
    NotSignedByAny { auditors: Vec<String>, attributes: Vec<String>, signed: Vec<String> },
    /// A volume's storage class the provider does not offer.
    Storage { volume: String, wants: String },
    /// GPU models the provider does not have.
    Gpu { wants: Vec<String>, has: Vec<String> },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Attribute { key, value } => {
                write!(f, "needs attribute {}", Attribute::new(key.clone(), value.clone()).describe())
            }
            Mismatch::NotSignedByAll { auditor, attributes, signed } => {
                write!(f, "needs {} signed by auditor {auditor}{}", what_signed(attributes), what_they_signed(signed))
            }
            Mismatch::NotSignedByAny { auditors, attributes, signed } => {
                write!(
                    f,
                    "needs {} signed by one of {}{}",
                    what_signed(attributes),
                    auditors.join(", "),
                    what_they_signed(signed)
                )
            }
            Mismatch::Storage { volume, wants } => write!(f, "volume {volume} needs storage {wants}"),
            Mismatch::Gpu { wants, has } if has.is_empty() => {
                write!(f, "needs gpu {}; has no GPUs", wants.join(" or "))
            }
            Mismatch::Gpu { wants, has } => write!(f, "needs gpu {}; has {}", wants.join(" or "), has.join(", ")),
        }
    }
}

fn pairs(attributes: &[Attribute]) -> Vec<String> {
    attributes.iter().map(Attribute::describe).collect()
}

/// `host=akash` or `its attributes` (a bare `signedBy` wants any signature).
fn what_signed(attributes: &[String]) -> String {
    if attributes.is_empty() { "its attributes".into() } else { attributes.join(", ") }
}

/// `; signed: benchmark/h100/tflops-bf16=650.000` — what the named auditors did sign under the
/// required keys (a measured figure below a minimum, a different region), or nothing.
fn what_they_signed(signed: &[String]) -> String {
    if signed.is_empty() { String::new() } else { format!("; signed: {}", signed.join(", ")) }
}

/// What `attrs` (one auditor's signatures) hold under the keys `required` names.
fn under_required_keys(required: &[Attribute], attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| required.iter().any(|r| crate::attributes::glob_match(&r.key, &a.key)))
        .map(|a| format!("{}={}", a.key, a.value))
        .collect()
}

/// Placement attributes and auditor signatures.
///
/// An auditor named in `signedBy` that is an alias (a foreign address such as Akash's
/// community auditor) is checked against the signatures of the auditor standing in for it.
pub fn check_requirements(
    group: &GroupSpec,
    provider_attributes: &[Attribute],
    audits: &[AuditedAttributes],
    aliases: &[AuditorAlias],
) -> Result<(), Mismatch> {
    let required = &group.requirements.attributes;
    let signed_by = &group.requirements.signed_by;
    if signed_by.is_empty() {
        return first_missing(required, provider_attributes).map_or(Ok(()), Err);
    }
    let signed = |auditor: &str| {
        let stand_in = aliases.iter().find(|a| a.name == auditor).map(|a| a.auditor.to_string());
        let auditor = stand_in.as_deref().unwrap_or(auditor);
        audits.iter().find(|a| a.auditor.to_string() == auditor).map(|a| a.attributes.as_slice())
    };
    for auditor in signed_by.all_of() {
        match signed(auditor) {
            Some(attrs) if attributes_subset_of(required, attrs) => {}
            other => {
                return Err(Mismatch::NotSignedByAll {
                    auditor: auditor.clone(),
                    attributes: pairs(required),
                    signed: other.map(|attrs| under_required_keys(required, attrs)).unwrap_or_default(),
                });
            }
        }
    }
    if !signed_by.any_of().is_empty()
        && !signed_by.any_of().iter().any(|a| signed(a).is_some_and(|attrs| attributes_subset_of(required, attrs)))
    {
        let signed = signed_by
            .any_of()
            .iter()
            .filter_map(|a| signed(a))
            .flat_map(|attrs| under_required_keys(required, attrs))
            .collect();
        return Err(Mismatch::NotSignedByAny {
            auditors: signed_by.any_of().to_vec(),
            attributes: pairs(required),
            signed,
        });
    }
    Ok(())
}

fn first_missing(required: &[Attribute], have: &[Attribute]) -> Option<Mismatch> {
    required
        .iter()
        .find(|req| !have.iter().any(|h| req.matched_by(h)))
        .map(|req| Mismatch::Attribute { key: req.key.clone(), value: req.value.clone() })
}

/// Storage classes and GPU models, against the provider's `capabilities/...` attributes.
pub fn check_capabilities(group: &GroupSpec, provider_attributes: &[Attribute]) -> Result<(), Mismatch> {
    let storage = capability_groups(provider_attributes, "storage");
    let gpus = gpu_capabilities(provider_attributes);
    for unit in &group.resources {
        for volume in &unit.resources.storage {
            if volume.attributes.is_empty() {
                continue;
            }
            if !storage.values().any(|offer| attributes_subset_of(&volume.attributes, offer)) {
                let wants =
                    volume.attributes.iter().map(|a| format!("{}={}", a.key, a.value)).collect::<Vec<_>>().join(",");
                return Err(Mismatch::Storage { volume: volume.name.clone(), wants });
            }
        }
        if let Some(gpu) = &unit.resources.gpu {
            if gpu.units.0 == 0 || gpu.attributes.is_empty() {
                continue;
            }
            let wanted: Vec<Attribute> =
                gpu.attributes.iter().map(|a| Attribute::new(canonicalize_gpu_key(&a.key), a.value.clone())).collect();
            if !attributes_any_of(&wanted, &gpus) {
                return Err(Mismatch::Gpu {
                    wants: wanted.iter().map(|a| short_gpu(&a.key)).collect(),
                    has: gpus_as_asked(&wanted, &gpus),
                });
            }
        }
    }
    Ok(())
}

/// `capabilities/<prefix>/<n>/<attr>=<v>` grouped by `<n>` (Akash `GetCapabilitiesGroup`).
fn capability_groups(attrs: &[Attribute], prefix: &str) -> BTreeMap<String, Vec<Attribute>> {
    let mut out: BTreeMap<String, Vec<Attribute>> = BTreeMap::new();
    let lead = format!("capabilities/{prefix}/");
    for a in attrs {
        let Some(rest) = a.key.strip_prefix(&lead) else { continue };
        let mut parts = rest.split('/');
        if let (Some(group), Some(key), None) = (parts.next(), parts.next(), parts.next()) {
            out.entry(group.to_string()).or_default().push(Attribute::new(key, a.value.clone()));
        }
    }
    out
}

/// `capabilities/gpu/vendor/...` with the prefix removed and models canonical.
fn gpu_capabilities(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter_map(|a| {
            let rest = a.key.strip_prefix("capabilities/gpu/")?;
            (rest.split('/').count() >= 2).then(|| Attribute::new(canonicalize_gpu_key(rest), a.value.clone()))
        })
        .collect()
}

/// The qualifiers a GPU key names after its model: `…/model/h100/ram/80Gi/interface/sxm` →
/// `["ram", "interface"]`.
fn gpu_qualifiers(key: &str) -> Vec<&str> {
    let model = key.split_once("/model/").map_or(key, |(_, m)| m);
    model.split('/').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, p)| p).collect()
}

/// The provider's GPUs, described at the detail the group asked for: a group that wants
/// `h100 sxm` is told the provider has `h100 pcie`, not just `h100` (which would read as a match).
fn gpus_as_asked(wanted: &[Attribute], gpus: &[Attribute]) -> Vec<String> {
    let detail = wanted.iter().map(|a| gpu_qualifiers(&a.key)).max_by_key(Vec::len).unwrap_or_default();
    let at_detail: std::collections::BTreeSet<String> =
        gpus.iter().filter(|a| gpu_qualifiers(&a.key) == detail).map(|a| short_gpu(&a.key)).collect();
    if !at_detail.is_empty() {
        return at_detail.into_iter().collect();
    }
    // The provider does not declare that detail: its models.
    gpus.iter()
        .map(|a| short_gpu(&a.key).split(' ').next().unwrap_or_default().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `vendor/nvidia/model/h100/ram/80Gi` → `h100/ram/80Gi`, for messages.
/// `vendor/nvidia/model/h100/ram/80Gi/interface/sxm` → `h100 80Gi sxm`.
fn short_gpu(key: &str) -> String {
    let model = key.split_once("/model/").map_or(key, |(_, m)| m);
    model.split('/').enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, p)| p).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::group::{ResourceUnit, SignedBy};
    use crate::resources::{Gpu, ResourceValue, Resources, Storage};

    fn group_with(storage: Vec<Storage>, gpu: Option<(u64, &str)>) -> GroupSpec {
        let gpu =
            gpu.map(|(units, key)| Gpu { attributes: vec![Attribute::new(key, "true")], units: ResourceValue(units) });
        GroupSpec {
            resources: vec![ResourceUnit {
                resources: Resources { storage, gpu, ..Resources::default() },
                ..ResourceUnit::default()
            }],
            ..GroupSpec::default()
        }
    }

    fn provider_caps() -> Vec<Attribute> {
        vec![
            Attribute::new("region", "us-west"),
            Attribute::new("capabilities/storage/1/class", "beta3"),
            Attribute::new("capabilities/storage/1/persistent", "true"),
            Attribute::new("capabilities/storage/2/class", "ram"),
            Attribute::new("capabilities/storage/2/persistent", "false"),
            Attribute::new("capabilities/gpu/vendor/nvidia/model/a100", "true"),
            Attribute::new("capabilities/gpu/vendor/nvidia/model/a100/ram/80Gi", "true"),
        ]
    }

    #[test]
    fn attribute_requirements_with_globs() {
        let mut g = GroupSpec::default();
        g.requirements.attributes = vec![Attribute::new("reg*", "us-west")];
        assert_eq!(check_requirements(&g, &provider_caps(), &[], &[]), Ok(()));
        g.requirements.attributes = vec![Attribute::new("region", "eu")];
        assert_eq!(
            check_requirements(&g, &provider_caps(), &[], &[]).map_err(|e| e.to_string()),
            Err("needs attribute region=eu".to_string())
        );
    }

    #[test]
    fn signed_by_uses_audited_attributes_only() {
        let auditor = Address::module("auditor");
        let mut g = GroupSpec::default();
        g.requirements.attributes = vec![Attribute::new("region", "us-west")];
        g.requirements.signed_by = SignedBy { all_of: None, any_of: Some(vec![auditor.to_string()]) };
        assert!(matches!(check_requirements(&g, &provider_caps(), &[], &[]), Err(Mismatch::NotSignedByAny { .. })));
        let audit = AuditedAttributes {
            provider: Address::module("p"),
            auditor,
            attributes: vec![Attribute::new("region", "us-west")],
        };
        assert_eq!(check_requirements(&g, &[], std::slice::from_ref(&audit), &[]), Ok(()));
        g.requirements.signed_by = SignedBy { all_of: Some(vec![auditor.to_string(), "other".into()]), any_of: None };
        assert_eq!(
            check_requirements(&g, &[], &[audit], &[]),
            Err(Mismatch::NotSignedByAll {
                auditor: "other".into(),
                attributes: vec!["region=us-west".into()],
                signed: vec![]
            })
        );
    }

    #[test]
    fn signed_by_a_foreign_auditor_is_checked_against_its_stand_in() {
        let akash = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63";
        let auditor = Address::module("auditor");
        let mut g = GroupSpec::default();
        g.requirements.attributes = vec![Attribute::new("host", "akash")];
        g.requirements.signed_by = SignedBy { all_of: None, any_of: Some(vec![akash.into()]) };
        let audit = AuditedAttributes {
            provider: Address::module("p"),
            auditor,
            attributes: vec![Attribute::new("host", "akash")],
        };
        let aliases = [AuditorAlias { name: akash.into(), auditor }];
        assert!(matches!(
            check_requirements(&g, &[], std::slice::from_ref(&audit), &[]),
            Err(Mismatch::NotSignedByAny { .. })
        ));
        assert_eq!(check_requirements(&g, &[], std::slice::from_ref(&audit), &aliases), Ok(()));
        // The stand-in must have signed the required attributes, not just anything.
        g.requirements.attributes = vec![Attribute::new("host", "other")];
        assert!(check_requirements(&g, &[], &[audit], &aliases).is_err());
    }

    #[test]
    fn storage_classes_must_be_offered() {
        let vol = |class: &str, persistent: &str| Storage {
            attributes: vec![Attribute::new("class", class), Attribute::new("persistent", persistent)],
            name: "data".into(),
            ..Storage::default()
        };
        assert_eq!(check_capabilities(&group_with(vec![vol("beta3", "true")], None), &provider_caps()), Ok(()));
        assert_eq!(check_capabilities(&group_with(vec![vol("ram", "false")], None), &provider_caps()), Ok(()));
        assert_eq!(
            check_capabilities(&group_with(vec![vol("beta2", "true")], None), &provider_caps())
                .map_err(|e| e.to_string()),
            Err("volume data needs storage class=beta2,persistent=true".to_string())
        );
    }

    #[test]
    fn gpu_models_match_across_spellings_and_wildcards() {
        let caps = provider_caps();
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/nvidia-a100"))), &caps),
            Ok(())
        );
        assert_eq!(check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/*"))), &caps), Ok(()));
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/A100/ram/80Gi"))), &caps),
            Ok(())
        );
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/h200"))), &caps)
                .map_err(|e| e.to_string()),
            Err("needs gpu h200; has a100".to_string())
        );
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/h200"))), &[])
                .map_err(|e| e.to_string()),
            Err("needs gpu h200; has no GPUs".to_string())
        );
        // Asked for a detail, told the provider's GPUs at that detail.
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/a100/ram/40Gi"))), &caps)
                .map_err(|e| e.to_string()),
            Err("needs gpu a100 40Gi; has a100 80Gi".to_string())
        );
        assert_eq!(
            check_capabilities(&group_with(vec![], Some((1, "vendor/nvidia/model/a100/interface/sxm"))), &caps)
                .map_err(|e| e.to_string()),
            Err("needs gpu a100 sxm; has a100".to_string()),
            "a provider that does not declare the interface: its models"
        );
    }
}
