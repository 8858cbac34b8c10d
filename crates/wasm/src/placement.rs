//! Who may bid, before anything is deployed: for each group of an SDL, the providers whose
//! attributes meet its placement by the ledger's own rules (`stratus_types::placement`), and why
//! the others do not — Akash users' "GPU tags that don't match", shown in the editor.

use serde::Deserialize;

use crate::{answer, parse};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementIn {
    sdl: String,
    /// `GET /providers` items.
    providers: Vec<stratus_types::market::Provider>,
    /// `GET /audits` items, for every provider.
    #[serde(default)]
    audits: Vec<stratus_types::market::AuditedAttributes>,
    /// The chain's `auditor_aliases` (`GET /params`).
    #[serde(default)]
    aliases: Vec<stratus_types::params::AuditorAlias>,
}

/// `{sdl, providers, audits, aliases}` → `{groups: [{group, fit: [address], refused: [{provider,
/// reason}]}]}`: for each group of the SDL, which providers' attributes meet its placement (the
/// rules the ledger enforces on bids: attributes, auditors, storage classes, GPU models) and, for
/// the others, why not — before anything is deployed. Capacity is the provider's to judge when it
/// bids; this says only who may.
pub fn placement_preview(json: &[u8]) -> String {
    answer(parse::<PlacementIn>("input", json).and_then(|p| {
        let parsed = stratus_sdl::parse_str(&p.sdl);
        let Some(sdl) = parsed.sdl else {
            return Err("the SDL is not valid".into());
        };
        let groups: Vec<serde_json::Value> = sdl
            .groups
            .iter()
            .map(|g| {
                let (mut fit, mut refused) = (Vec::new(), Vec::new());
                for provider in &p.providers {
                    let audits: Vec<_> = p.audits.iter().filter(|a| a.provider == provider.owner).cloned().collect();
                    let verdict =
                        stratus_types::placement::check_requirements(g, &provider.attributes, &audits, &p.aliases)
                            .and_then(|()| stratus_types::placement::check_capabilities(g, &provider.attributes));
                    match verdict {
                        Ok(()) => fit.push(provider.owner.to_string()),
                        Err(why) => {
                            refused.push(serde_json::json!({ "provider": provider.owner, "reason": why.to_string() }))
                        }
                    }
                }
                serde_json::json!({ "group": g.name, "fit": fit, "refused": refused })
            })
            .collect();
        Ok(serde_json::json!({ "groups": groups }))
    }))
}
