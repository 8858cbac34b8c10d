//! Which bids to lease: the cheapest choice that gives the coordinator's group one bid and every
//! worker group one bid, with at most `max_workers_per_provider` workers on any provider, only
//! providers in the allowed regions, and none that is known to be dead. GPU models are not
//! checked here: they are in the SDL, so a provider without them never bids (and says why).
//!
//! Worker groups are identical, so filling them from the cheapest provider up (up to its cap) is
//! the cheapest assignment whenever it exists; a provider bids on as many groups as it has room
//! for, which is all this needs.

use std::collections::BTreeMap;

use stratus_types::address::Address;
use stratus_types::dec::Dec;

/// One open bid: on group `gseq`, by `provider`, at `price` per block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub gseq: u32,
    pub provider: Address,
    pub price: Dec,
}

/// What the tenant knows of a provider.
#[derive(Clone, Debug, Default)]
pub struct ProviderFacts {
    pub address: Address,
    /// How to name it in messages (a devnet name, or the address).
    pub label: String,
    pub region: Option<String>,
    /// Why it must not be used (its workers died, its gateway is down).
    pub excluded: Option<String>,
    /// Why it did not bid, from its decision records (filled by the caller).
    pub declined: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Rules {
    pub max_workers_per_provider: u32,
    pub regions: Vec<String>,
}

/// The groups to fill: the coordinator's (if it needs a lease) and the workers'.
#[derive(Clone, Debug, Default)]
pub struct Need {
    pub coordinator: Option<u32>,
    pub workers: Vec<u32>,
    /// Workers already running per provider (when healing), counted against the cap.
    pub placed: BTreeMap<Address, u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub gseq: u32,
    pub provider: Address,
    pub price: Dec,
}

/// No assignment exists: one line per provider saying why it could not help, and a summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Infeasible {
    pub summary: String,
    pub providers: Vec<String>,
}

pub fn assign(
    need: &Need,
    offers: &[Offer],
    providers: &[ProviderFacts],
    rules: &Rules,
) -> Result<Vec<Choice>, Infeasible> {
    let facts = |p: &Address| providers.iter().find(|f| &f.address == p);
    let usable = |p: &Address| {
        facts(p).is_some_and(|f| {
            f.excluded.is_none()
                && (rules.regions.is_empty() || f.region.as_ref().is_some_and(|r| rules.regions.contains(r)))
        })
    };
    let mut eligible: Vec<&Offer> = offers.iter().filter(|o| usable(&o.provider)).collect();
    eligible.sort_by(|a, b| a.price.cmp(&b.price).then(a.provider.cmp(&b.provider)).then(a.gseq.cmp(&b.gseq)));
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    if let Some(g) = need.coordinator {
        match eligible.iter().find(|o| o.gseq == g) {
            Some(o) => chosen.push(Choice { gseq: g, provider: o.provider, price: o.price }),
            None => missing.push("the coordinator".to_string()),
        }
    }
    let mut per_provider = need.placed.clone();
    let mut unfilled = 0;
    for &g in &need.workers {
        let pick = eligible.iter().find(|o| {
            o.gseq == g && per_provider.get(&o.provider).copied().unwrap_or(0) < rules.max_workers_per_provider
        });
        match pick {
            Some(o) => {
                *per_provider.entry(o.provider).or_default() += 1;
                chosen.push(Choice { gseq: g, provider: o.provider, price: o.price });
            }
            None => unfilled += 1,
        }
    }
    if unfilled > 0 {
        missing.push(format!("{unfilled} of {} worker(s)", need.workers.len()));
    }
    if missing.is_empty() {
        return Ok(chosen);
    }
    let reasons = providers
        .iter()
        .map(|f| {
            let why = if let Some(e) = &f.excluded {
                format!("not used: {e}")
            } else if !rules.regions.is_empty() && !f.region.as_ref().is_some_and(|r| rules.regions.contains(r)) {
                format!(
                    "region {} is not one of the job's regions ({})",
                    f.region.as_deref().unwrap_or("(none)"),
                    rules.regions.join(", ")
                )
            } else if unfilled > 0 && !offers.iter().any(|o| o.provider == f.address && need.workers.contains(&o.gseq))
            {
                match &f.declined {
                    Some(d) => format!("did not bid for a worker: {d}"),
                    None => "did not bid for a worker".into(),
                }
            } else if !offers.iter().any(|o| o.provider == f.address) {
                match &f.declined {
                    Some(d) => format!("did not bid: {d}"),
                    None => "did not bid".into(),
                }
            } else {
                let workers = per_provider.get(&f.address).copied().unwrap_or(0);
                format!(
                    "bid; holds {workers} worker(s), the most one provider may (max_workers_per_provider = {})",
                    rules.max_workers_per_provider
                )
            };
            format!("{}: {why}", f.label)
        })
        .collect();
    Err(Infeasible { summary: format!("no provider could take {}", missing.join(" and ")), providers: reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> Address {
        Address([i; 20])
    }

    fn facts(i: u8, region: &str) -> ProviderFacts {
        ProviderFacts { address: addr(i), label: format!("p{i}"), region: Some(region.into()), ..Default::default() }
    }

    fn offer(gseq: u32, p: u8, price: u128) -> Offer {
        Offer { gseq, provider: addr(p), price: Dec::from_int(price).unwrap() }
    }

    /// Group 1 is the coordinator, 2..=4 the workers; every provider bids on every group.
    fn market(prices: &[(u8, u128)]) -> Vec<Offer> {
        prices.iter().flat_map(|&(p, price)| (1..=4).map(move |g| offer(g, p, price))).collect()
    }

    fn need() -> Need {
        Need { coordinator: Some(1), workers: vec![2, 3, 4], placed: BTreeMap::new() }
    }

    #[test]
    fn takes_the_cheapest_bids_spread_as_the_cap_says() {
        let providers = [facts(1, "us"), facts(2, "eu"), facts(3, "eu"), facts(4, "us")];
        let offers = market(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        let rules = Rules { max_workers_per_provider: 1, regions: vec![] };
        let got = assign(&need(), &offers, &providers, &rules).unwrap();
        let by_group: Vec<(u32, u8)> = got.iter().map(|c| (c.gseq, c.provider.0[0])).collect();
        assert_eq!(by_group, vec![(1, 1), (2, 1), (3, 2), (4, 3)]);
        let rules = Rules { max_workers_per_provider: 2, regions: vec![] };
        let got = assign(&need(), &offers, &providers, &rules).unwrap();
        let by_group: Vec<(u32, u8)> = got.iter().map(|c| (c.gseq, c.provider.0[0])).collect();
        assert_eq!(by_group, vec![(1, 1), (2, 1), (3, 1), (4, 2)]);
    }

    #[test]
    fn regions_dead_providers_and_workers_already_placed_count() {
        let mut providers = vec![facts(1, "us"), facts(2, "eu"), facts(3, "eu"), facts(4, "us")];
        providers[1].excluded = Some("its workers died".into());
        let offers = market(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        let rules = Rules { max_workers_per_provider: 1, regions: vec!["eu".into(), "us".into()] };
        // Healing: provider 1 and 3 already hold a worker; group 3 needs a replacement.
        let heal = Need { coordinator: None, workers: vec![3], placed: [(addr(1), 1), (addr(3), 1)].into() };
        let got = assign(&heal, &offers, &providers, &rules).unwrap();
        assert_eq!(got, vec![Choice { gseq: 3, provider: addr(4), price: Dec::from_int(40).unwrap() }]);
        // Only eu allowed, and the one eu provider left holds a worker already.
        let rules = Rules { max_workers_per_provider: 1, regions: vec!["eu".into()] };
        let err = assign(&heal, &offers, &providers, &rules).unwrap_err();
        assert_eq!(err.summary, "no provider could take 1 of 1 worker(s)");
        assert_eq!(
            err.providers,
            vec![
                "p1: region us is not one of the job's regions (eu)".to_string(),
                "p2: not used: its workers died".to_string(),
                "p3: bid; holds 1 worker(s), the most one provider may (max_workers_per_provider = 1)".to_string(),
                "p4: region us is not one of the job's regions (eu)".to_string(),
            ]
        );
    }

    #[test]
    fn a_provider_that_did_not_bid_says_why() {
        let mut providers = vec![facts(1, "us"), facts(2, "eu")];
        providers[1].declined = Some("no GPU of model a100".into());
        let offers = market(&[(1, 10)]);
        let rules = Rules { max_workers_per_provider: 1, regions: vec![] };
        let err = assign(&need(), &offers, &providers, &rules).unwrap_err();
        assert_eq!(err.summary, "no provider could take 2 of 3 worker(s)");
        assert!(
            err.providers.contains(&"p2: did not bid for a worker: no GPU of model a100".to_string()),
            "{:?}",
            err.providers
        );
    }
}
