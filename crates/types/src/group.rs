//! Deployment groups as the ledger stores them: what a tenant asks providers to bid on.

use serde::{Deserialize, Serialize};

use crate::attributes::Attribute;
use crate::dec::Dec;
use crate::resources::{Resources, null_as_empty};

/// An amount of a denomination with 18 decimal places, e.g. a price per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlacementRequirements {
    pub signed_by: SignedBy,
    /// Sorted by key; `null` when empty, as Go encodes a nil slice.
    #[serde(default, deserialize_with = "null_as_empty", serialize_with = "empty_as_null")]
    pub attributes: Vec<Attribute>,
}

fn empty_as_null<S: serde::Serializer>(attrs: &[Attribute], serializer: S) -> Result<S::Ok, S::Error> {
    if attrs.is_empty() { serializer.serialize_none() } else { attrs.serialize(serializer) }
}

/// `count` replicas of the same resources at `price` per replica per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
