//! Should the provider bid on an order, and at what price? Akash's checks in Akash's order —
//! placement attributes (and `signedBy` through auditor signatures), the provider's own attribute
//! filter, capabilities (storage classes, GPU models, canonically compared), denomination — then
//! the inventory (a real placement, reserved) and the price, never above the order's. Every
//! order gets a decision: a bid with its price, or one sentence saying why not.

use stratus_types::attributes::Attribute;
use stratus_types::dec::Dec;
use stratus_types::group::{DecCoin, GroupSpec};
use stratus_types::market::{AuditedAttributes, OrderId, ResourceOffer};
use stratus_types::placement::{check_capabilities, check_requirements};

use crate::pure::inventory::{Inventory, Reservation, Strategy};
use crate::pure::pricing::Pricing;

/// What the engine decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Bid this price per block; the resources are reserved.
    Bid {
        price: DecCoin,
        offer: Vec<ResourceOffer>,
        summary: String,
    },
    Decline(String),
}

/// Everything the engine looks at besides the inventory.
pub struct Context<'a> {
    pub owner: &'a stratus_types::address::Address,
    pub attributes: &'a [Attribute],
    pub audits: &'a [AuditedAttributes],
    /// The ledger's auditor aliases (foreign auditors named in `signedBy`).
    pub aliases: &'a [stratus_types::params::AuditorAlias],
    /// Akash's `--provider-config` filter: bid only when the order requires all of these.
    pub require: &'a [Attribute],
    pub pricing: &'a Pricing,
    pub ledger_denoms: &'a [String],
}

/// Screens `group` and, if it passes, reserves and prices it. A decline leaves the inventory
/// as it was.
pub fn decide(ctx: &Context<'_>, inventory: &mut Inventory, order: &OrderId, group: &GroupSpec) -> Verdict {
    if let Err(m) = check_requirements(group, ctx.attributes, ctx.audits, ctx.aliases) {
        return Verdict::Decline(m.to_string());
    }
    if let Some(a) =
        ctx.require.iter().find(|a| !group.requirements.attributes.iter().any(|r| r.key == a.key && r.value == a.value))
    {
        return Verdict::Decline(format!("this provider only takes orders that require {}={}", a.key, a.value));
    }
    if let Err(m) = check_capabilities(group, ctx.attributes) {
        return Verdict::Decline(m.to_string());
    }
    let denom = group.denom();
    let accepted: &[String] = if ctx.pricing.denoms.is_empty() { ctx.ledger_denoms } else { &ctx.pricing.denoms };
    if !accepted.iter().any(|d| d == denom) {
        return Verdict::Decline(format!("prices in {denom}; this provider bids in {}", accepted.join(", ")));
    }
    let reservation: Reservation = match inventory.reserve(order, group, Strategy::BestFit) {
        Ok(r) => r.clone(),
        Err(e) => return Verdict::Decline(e.to_string()),
    };
    let max = group.max_price().unwrap_or(Dec::ZERO);
    let price = match ctx.pricing.quote(ctx.owner, group, &reservation) {
        Ok(p) => p,
        Err(e) => {
            inventory.release(order);
            return Verdict::Decline(e);
        }
    };
    if price > max {
        inventory.release(order);
        return Verdict::Decline(format!("price {}{denom}/block is above your {}{denom}", price.short(), max.short()));
    }
    let offer = group
        .resources
        .iter()
        .map(|u| ResourceOffer {
            resource_id: u.resources.id,
            count: u.count,
            attributes: reservation
                .unit_gpus
                .iter()
                .filter(|(id, _)| *id == u.resources.id)
                .map(|(_, d)| {
                    Attribute::new(
                        format!("vendor/nvidia/model/{}/ram/{}Gi/interface/{}", d.model, d.ram_gi, d.interface),
                        "true",
                    )
                })
                .collect(),
        })
        .collect();
    Verdict::Bid { price: DecCoin::new(denom, price), offer, summary: summary(&reservation) }
}

/// `2× h100 80Gi sxm on gpu-a; 1 replica on cpu-1`.
pub fn summary(r: &Reservation) -> String {
    let mut parts = Vec::new();
    for p in &r.replicas {
        let gpu = r
            .unit_gpus
            .iter()
            .find(|(u, _)| *u == p.unit)
            .filter(|_| !p.gpus.is_empty())
            .map(|(_, d)| format!("{}× {} {}Gi {}, ", p.gpus.len(), d.model, d.ram_gi, d.interface))
            .unwrap_or_default();
        parts.push(format!("{gpu}{} CPU on {}", crate::pure::inventory::fmt_cpu(p.cpu_millis), p.node));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use stratus_ledger::testkit::group;
    use stratus_types::address::Address;
    use stratus_types::group::SignedBy;

    use super::*;
    use crate::config::PricingConfig;
    use crate::pure::inventory::{ClusterSpec, GpuDevice, NodeSpec};

    fn inventory() -> Inventory {
        Inventory::new(&ClusterSpec {
            nodes: vec![NodeSpec {
                name: "n1".into(),
                cpu_millis: 32_000,
                memory: 128 << 30,
                ephemeral: 1 << 40,
                gpus: vec![GpuDevice { model: "rtx4090".into(), ram_gi: 24, interface: "pcie".into() }; 4],
            }],
            ..ClusterSpec::default()
        })
    }

    fn attrs() -> Vec<Attribute> {
        vec![
            Attribute::new("region", "eu-west"),
            Attribute::new("capabilities/gpu/vendor/nvidia/model/rtx4090", "true"),
        ]
    }

    fn order(n: u64) -> OrderId {
        OrderId { owner: Address([1; 20]), dseq: n, gseq: 1, oseq: 1 }
    }

    fn run(g: &GroupSpec, inv: &mut Inventory, audits: &[AuditedAttributes]) -> Verdict {
        let pricing = Pricing::from_config(&PricingConfig::default(), std::path::Path::new(".")).unwrap();
        let a = attrs();
        let ctx = Context {
            owner: &Address([1; 20]),
            attributes: &a,
            audits,
            aliases: &[],
            require: &[],
            pricing: &pricing,
            ledger_denoms: &["uact".to_string()],
        };
        decide(&ctx, inv, &order(g.resources[0].count as u64), g)
    }

    #[test]
    fn bids_with_a_price_and_the_gpu_it_reserved() {
        let mut inv = inventory();
        let g = group("g", 1000, 1, Some((2, "nvidia-rtx4090")));
        match run(&g, &mut inv, &[]) {
            Verdict::Bid { price, offer, summary } => {
                assert_eq!(price.denom, "uact");
                assert!(price.amount > Dec::ZERO && price.amount <= Dec::from_int(1000).unwrap());
                assert_eq!(offer[0].attributes[0].key, "vendor/nvidia/model/rtx4090/ram/24Gi/interface/pcie");
                assert!(summary.contains("2× rtx4090"), "{summary}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(inv.status().gpus[0].free, 2);
    }

    #[test]
    fn every_decline_says_why_and_reserves_nothing() {
        let mut inv = inventory();
        let before = inv.status();
        let decline = |v: Verdict| match v {
            Verdict::Decline(why) => why,
            other => panic!("{other:?}"),
        };
        let h200 = group("g", 1000, 1, Some((1, "h200")));
        assert_eq!(decline(run(&h200, &mut inv, &[])), "needs gpu h200; has rtx4090");
        let cheap = group("g", 1, 1, Some((1, "rtx4090")));
        let why = decline(run(&cheap, &mut inv, &[]));
        assert!(why.starts_with("price ") && why.ends_with("/block is above your 1uact"), "{why}");
        let big = group("g", 1000, 1, Some((8, "rtx4090")));
        assert!(decline(run(&big, &mut inv, &[])).starts_with("insufficient capacity"));
        let mut region = group("g", 1000, 1, None);
        region.requirements.attributes = vec![Attribute::new("region", "us-east")];
        assert_eq!(decline(run(&region, &mut inv, &[])), "needs attribute region=us-east");
        let mut audited = group("g", 1000, 1, None);
        audited.requirements.attributes = vec![Attribute::new("region", "eu-west")];
        audited.requirements.signed_by = SignedBy { all_of: Some(vec![Address([5; 20]).to_string()]), any_of: None };
        assert!(decline(run(&audited, &mut inv, &[])).contains("signed by auditor"));
        let signed = AuditedAttributes {
            provider: Address([2; 20]),
            auditor: Address([5; 20]),
            attributes: vec![Attribute::new("region", "eu-west")],
        };
        assert!(matches!(run(&audited, &mut inv, &[signed]), Verdict::Bid { .. }));
        inv.release(&order(1));
        assert_eq!(inv.status(), before);
    }
}
