//! Deployment groups as the ledger stores them: what a tenant asks providers to bid on.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::attributes::Attribute;
use crate::dec::Dec;
use crate::resources::{Resources, null_as_empty};

/// An amount of a denomination with 18 decimal places, e.g. a price per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct DecCoin {
    pub denom: String,
    pub amount: Dec,
}

impl DecCoin {
    pub fn new(denom: impl Into<String>, amount: Dec) -> DecCoin {
        DecCoin { denom: denom.into(), amount }
    }
}

/// Cosmos' denomination rule: `[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`.
pub fn is_valid_denom(denom: &str) -> bool {
    let b = denom.as_bytes();
    (3..=128).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b':' | b'.' | b'_' | b'-'))
}

/// Auditors whose signatures a placement requires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedBy {
    /// Every auditor listed must have signed the required attributes. `None` is Go's nil (`null`).
    #[serde(default)]
    pub all_of: Option<Vec<String>>,
    /// At least one auditor listed must have signed them.
    #[serde(default)]
    pub any_of: Option<Vec<String>>,
}

impl SignedBy {
    pub fn all_of(&self) -> &[String] {
        self.all_of.as_deref().unwrap_or_default()
    }

    pub fn any_of(&self) -> &[String] {
        self.any_of.as_deref().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.all_of().is_empty() && self.any_of().is_empty()
    }
}

/// Where a group may run: provider attributes it needs, and who must vouch for them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PlacementRequirements {
    pub signed_by: SignedBy,
    /// Sorted by key; `null` when empty, as Go encodes a nil slice.
    #[serde(default, deserialize_with = "null_as_empty", serialize_with = "empty_as_null")]
    pub attributes: Vec<Attribute>,
}

fn empty_as_null<S: serde::Serializer>(attrs: &[Attribute], serializer: S) -> Result<S::Ok, S::Error> {
    if attrs.is_empty() { serializer.serialize_none() } else { Serialize::serialize(attrs, serializer) }
}

/// `count` replicas of the same resources at `price` per replica per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct ResourceUnit {
    #[serde(rename = "resource")]
    pub resources: Resources,
    pub count: u32,
    pub price: DecCoin,
}

impl ResourceUnit {
    /// Price per block of all replicas of this unit; `None` on overflow.
    pub fn full_price(&self) -> Option<Dec> {
        self.price.amount.mul_u64(u64::from(self.count))
    }
}

/// One group of a deployment: becomes one order on the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct GroupSpec {
    pub name: String,
    pub requirements: PlacementRequirements,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub resources: Vec<ResourceUnit>,
}

impl GroupSpec {
    /// The denomination of the group's prices (all units share one; validation enforces it).
    pub fn denom(&self) -> &str {
        self.resources.first().map_or("", |r| r.price.denom.as_str())
    }

    /// The most the tenant pays per block for the whole group; `None` on overflow.
    pub fn max_price(&self) -> Option<Dec> {
        self.resources.iter().try_fold(Dec::ZERO, |acc, unit| acc.checked_add(unit.full_price()?))
    }
}

/// What makes `new` a different deployment than `old` (its groups as on the ledger): a group
/// added, removed or renamed, other placement requirements, other resources or replica counts.
/// Prices may change (leases keep the price they were made at). Empty: an update may go ahead.
pub fn group_differences(old: &[GroupSpec], new: &[GroupSpec]) -> Vec<String> {
    let mut out = Vec::new();
    let names = |g: &[GroupSpec]| g.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        out.push(format!("groups {:?} would become {:?}", names(old), names(new)));
        return out;
    }
    for (o, n) in old.iter().zip(new) {
        if o.requirements != n.requirements {
            out.push(format!("group {}: placement requirements differ", o.name));
        }
        if o.resources.len() != n.resources.len() {
            out.push(format!(
                "group {}: {} resource unit(s) would become {}",
                o.name,
                o.resources.len(),
                n.resources.len()
            ));
            continue;
        }
        for (i, (ou, nu)) in o.resources.iter().zip(&n.resources).enumerate() {
            if ou.count != nu.count {
                out.push(format!("group {} unit {i}: {} replica(s) would become {}", o.name, ou.count, nu.count));
            }
            if !ou.resources.same_compute_as(&nu.resources) {
                out.push(format!("group {} unit {i}: CPU, memory, storage or GPU differ", o.name));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_differences_name_what_changed_and_ignore_prices() {
        let unit = |count, amount: u128| ResourceUnit {
            resources: Resources::default(),
            count,
            price: DecCoin::new("uact", Dec::from_int(amount).unwrap_or_default()),
        };
        let group =
            |name: &str, units| GroupSpec { name: name.into(), requirements: Default::default(), resources: units };
        let old = vec![group("dc", vec![unit(1, 10)])];
        assert!(group_differences(&old, &[group("dc", vec![unit(1, 99)])]).is_empty(), "a price change is fine");
        let d = group_differences(&old, &[group("dc", vec![unit(2, 10)])]);
        assert_eq!(d, vec!["group dc unit 0: 1 replica(s) would become 2"]);
        let d = group_differences(&old, &[group("other", vec![unit(1, 10)])]);
        assert!(d[0].starts_with("groups [\"dc\"] would become [\"other\"]"), "{d:?}");
        let mut bigger = unit(1, 10);
        bigger.resources.cpu =
            Some(crate::resources::Cpu { attributes: vec![], units: crate::resources::ResourceValue(5000) });
        let d = group_differences(&old, &[group("dc", vec![bigger])]);
        assert!(d[0].contains("CPU, memory"), "{d:?}");
    }

    #[test]
    fn denoms_follow_cosmos_rule() {
        assert!(is_valid_denom("uakt"));
        assert!(is_valid_denom("ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"));
        assert!(!is_valid_denom("ab"));
        assert!(!is_valid_denom("1abc"));
        assert!(!is_valid_denom("ua kt"));
        assert!(!is_valid_denom(""));
    }

    #[test]
    fn group_price_sums_units() {
        let unit = |amount: u128, count| ResourceUnit {
            resources: Resources::default(),
            count,
            price: DecCoin::new("uact", Dec::from_int(amount).unwrap_or_default()),
        };
        let group = GroupSpec { resources: vec![unit(10, 3), unit(5, 2)], ..GroupSpec::default() };
        assert_eq!(group.max_price(), Dec::from_int(40));
        assert_eq!(group.denom(), "uact");
    }
}

const MI: u64 = 1 << 20;
const TI: u64 = 1 << 40;
/// Limits per replica and per group, as Akash's ledger enforces them (`deployment/v1beta4`).
pub const MAX_UNIT_CPU: u64 = 384_000;
pub const MIN_UNIT_CPU: u64 = 10;
pub const MAX_UNIT_GPU: u64 = 24;
pub const MIN_UNIT_MEMORY: u64 = MI;
pub const MAX_UNIT_MEMORY: u64 = 2 * TI;
pub const MIN_UNIT_STORAGE: u64 = 5 * MI;
pub const MAX_UNIT_STORAGE: u64 = 32 * TI;
/// Replicas the group totals allow for (Akash's `maxUnitCount`).
pub const MAX_UNIT_COUNT: u64 = 50;
/// Highest price per replica per block, in whole denomination units.
pub const MAX_UNIT_PRICE: u128 = 10_000_000;

/// Why a deployment's groups are not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GroupError(pub String);

/// The ledger's checks on a deployment's groups (Akash `ValidateDeploymentGroups`): at least one
/// group, unique non-empty names, one denomination, resources within limits, valid attributes.
pub fn validate_group_specs(groups: &[GroupSpec]) -> Result<(), GroupError> {
    let fail = |msg: String| Err(GroupError(msg));
    if groups.is_empty() {
        return fail("a deployment needs at least one group".into());
    }
    let denom = groups[0].denom();
    let mut names = std::collections::BTreeSet::new();
    for g in groups {
        if g.name.is_empty() {
            return fail("a group needs a non-empty name".into());
        }
        if !names.insert(g.name.as_str()) {
            return fail(format!("group name {:?} is used twice", g.name));
        }
        if g.resources.is_empty() {
            return fail(format!("group {:?} has no resources", g.name));
        }
        crate::attributes::validate_attributes(&g.requirements.attributes)
            .map_err(|e| GroupError(format!("group {:?}: {e}", g.name)))?;
        let (mut cpu, mut gpu, mut mem) = (0u128, 0u128, 0u128);
        let mut ids = std::collections::BTreeSet::new();
        for unit in &g.resources {
            let r = &unit.resources;
            let at = |msg: String| GroupError(format!("group {:?}, resources {}: {msg}", g.name, r.id));
            if r.id == 0 || !ids.insert(r.id) {
                return Err(at("resource ids must be unique and greater than 0".into()));
            }
            let Some(c) = &r.cpu else { return Err(at("CPU is required".into())) };
            if !(MIN_UNIT_CPU..=MAX_UNIT_CPU).contains(&c.units.0) {
                return Err(at(format!("{} millicpu is outside {MIN_UNIT_CPU}..={MAX_UNIT_CPU}", c.units.0)));
            }
            let Some(m) = &r.memory else { return Err(at("memory is required".into())) };
            if !(MIN_UNIT_MEMORY..=MAX_UNIT_MEMORY).contains(&m.quantity.0) {
                return Err(at(format!("{} bytes of memory is outside 1Mi..2Ti", m.quantity.0)));
            }
            if let Some(gp) = &r.gpu {
                if gp.units.0 > MAX_UNIT_GPU {
                    return Err(at(format!("{} GPUs per replica is more than {MAX_UNIT_GPU}", gp.units.0)));
                }
                if gp.units.0 == 0 && !gp.attributes.is_empty() {
                    return Err(at("GPU attributes cannot be present if units == 0".into()));
                }
                crate::attributes::validate_attributes(&gp.attributes).map_err(|e| at(e.to_string()))?;
            }
            if r.storage.is_empty() {
                return Err(at("storage is required".into()));
            }
            for v in &r.storage {
                if !(MIN_UNIT_STORAGE..=MAX_UNIT_STORAGE).contains(&v.quantity.0) {
                    return Err(at(format!("volume {:?}: {} bytes is outside 5Mi..32Ti", v.name, v.quantity.0)));
                }
                crate::attributes::validate_attributes(&v.attributes).map_err(|e| at(e.to_string()))?;
            }
            if !is_valid_denom(&unit.price.denom) || unit.price.denom != denom {
                return Err(at(format!(
                    "price denomination {:?} must be valid and equal {denom:?} for all groups",
                    unit.price.denom
                )));
            }
            if unit.price.amount.is_zero() || unit.price.amount > Dec::from_int(MAX_UNIT_PRICE).unwrap_or(Dec::ZERO) {
                return Err(at(format!(
                    "price {} per block must be above 0 and at most {MAX_UNIT_PRICE}",
                    unit.price.amount
                )));
            }
            let count = u128::from(unit.count);
            cpu += u128::from(c.units.0) * count;
            gpu += u128::from(r.gpu_units()) * count;
            mem += u128::from(m.quantity.0) * count;
        }
        if cpu == 0 || cpu > u128::from(MAX_UNIT_CPU * MAX_UNIT_COUNT) {
            return fail(format!(
                "group {:?}: total CPU {cpu} millicpu is outside 1..={}",
                g.name,
                MAX_UNIT_CPU * MAX_UNIT_COUNT
            ));
        }
        if gpu > u128::from(MAX_UNIT_GPU * MAX_UNIT_COUNT) {
            return fail(format!("group {:?}: total GPU {gpu} is more than {}", g.name, MAX_UNIT_GPU * MAX_UNIT_COUNT));
        }
        if mem == 0 || mem > u128::from(MAX_UNIT_MEMORY) * u128::from(MAX_UNIT_COUNT) {
            return fail(format!("group {:?}: total memory {mem} bytes is out of range", g.name));
        }
    }
    Ok(())
}
