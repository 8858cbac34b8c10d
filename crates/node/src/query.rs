//! Read-only queries over one committed height (a store snapshot), with filters and cursor
//! pagination. The key layout (`stratus_ledger::keys`) decides what is cheap: everything scoped
//! by owner (and deployment) is a prefix scan; bids and leases by provider and open orders use the
//! ledger's indexes; other filters are applied while scanning.

use std::collections::HashMap;
use std::str::FromStr;

use borsh::BorshDeserialize;
use stratus_ledger::keys;
use stratus_store::{Snapshot, StoreError};
use stratus_types::address::Address;
use stratus_types::api::{AccountInfo, DeploymentInfo, Page};
use stratus_types::coin::Coin;
use stratus_types::market::{
    AuditedAttributes, Bid, BidId, Deployment, DeploymentId, EscrowAccount, Group, Lease, Order, Payment, Provider,
};

use crate::app::account_sequence;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// Entries one request examines at most; a page may come back short (with `next`) when a filter
/// skips many entries.
const MAX_SCAN: usize = 20_000;
const BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> QueryError {
        QueryError::Internal(e.to_string())
    }
}

impl From<stratus_ledger::LedgerError> for QueryError {
    fn from(e: stratus_ledger::LedgerError) -> QueryError {
        QueryError::Internal(e.to_string())
    }
}

/// Filters and paging of a list query.
#[derive(Debug, Default)]
pub struct ListParams {
    pub owner: Option<Address>,
    pub dseq: Option<u64>,
    pub provider: Option<Address>,
    pub auditor: Option<Address>,
    pub state: Option<String>,
    /// A canonical GPU model (benchmarks).
    pub gpu: Option<String>,
    pub limit: usize,
    pub after: Option<Vec<u8>>,
}

fn parse<T: FromStr>(name: &str, value: &str) -> Result<T, QueryError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| QueryError::BadRequest(format!("query parameter {name}={value:?}: {e}")))
}

impl ListParams {
    /// Parses query parameters, allowing only `allowed` (plus `limit` and `after`) and, for
    /// `state`, only `states`.
    pub fn parse(query: &HashMap<String, String>, allowed: &[&str], states: &[&str]) -> Result<ListParams, QueryError> {
        let mut p = ListParams { limit: DEFAULT_LIMIT, ..ListParams::default() };
        let mut names: Vec<&String> = query.keys().collect();
        names.sort();
        for name in names {
            let value = &query[name];
            match name.as_str() {
                "limit" => {
                    p.limit = parse(name, value)?;
                    if p.limit == 0 || p.limit > MAX_LIMIT {
                        return Err(QueryError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
                    }
                }
                "after" => {
                    p.after = Some(hex::decode(value).ok().filter(|a| !a.is_empty()).ok_or_else(|| {
                        QueryError::BadRequest("after: not a cursor (pass the `next` of the previous page)".into())
                    })?);
                }
                n if !allowed.contains(&n) => {
                    let mut all: Vec<&str> = allowed.to_vec();
                    all.extend(["limit", "after"]);
                    return Err(QueryError::BadRequest(format!(
                        "unknown query parameter {n:?}; this endpoint takes {}",
                        all.join(", ")
                    )));
                }
                "owner" => p.owner = Some(parse(name, value)?),
                "dseq" => p.dseq = Some(parse(name, value)?),
                "provider" => p.provider = Some(parse(name, value)?),
                "auditor" => p.auditor = Some(parse(name, value)?),
                "gpu" => p.gpu = Some(stratus_types::gpu::canonical_model(value)),
                "state" => {
                    if !states.contains(&value.as_str()) {
                        return Err(QueryError::BadRequest(format!(
                            "state={value:?} is not one of {}",
                            states.join(", ")
                        )));
                    }
                    p.state = Some(value.clone());
                }
                _ => {}
            }
        }
        Ok(p)
    }

    fn state_is(&self, state: &str) -> bool {
        self.state.as_deref().is_none_or(|s| s == state)
    }

    fn owner_dseq_match(&self, owner: &Address, dseq: u64) -> bool {
        self.owner.as_ref().is_none_or(|o| o == owner) && self.dseq.is_none_or(|d| d == dseq)
    }

    /// `prefix`, narrowed by owner and dseq when given.
    fn scoped(&self, prefix: &[u8]) -> Vec<u8> {
        let mut k = prefix.to_vec();
        if let Some(o) = &self.owner {
            k.extend_from_slice(&o.0);
            if let Some(d) = self.dseq {
                k.extend_from_slice(&d.to_be_bytes());
            }
        }
        k
    }
}

fn decode<T: BorshDeserialize>(key: &[u8], value: &[u8]) -> Result<T, QueryError> {
    borsh::from_slice(value)
        .map_err(|e| QueryError::Internal(format!("corrupt record at {}: {e}", String::from_utf8_lossy(key))))
}

/// Walks `prefix` from the cursor, keeping what `keep` maps to `Some`.
fn page<T>(
    snap: &Snapshot,
    prefix: &[u8],
    p: &ListParams,
    mut keep: impl FnMut(&[u8], &[u8]) -> Result<Option<T>, QueryError>,
) -> Result<Page<T>, QueryError> {
    // A cursor is a position in the key space: one from another query (or made up) is not an
    // error, it just starts the page where it points.
    let mut cursor = p.after.clone();
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        let batch = snap.scan_page(prefix, cursor.as_deref(), BATCH)?;
        let exhausted = batch.len() < BATCH;
        for (k, v) in batch {
            scanned += 1;
            if let Some(item) = keep(&k, &v)? {
                items.push(item);
            }
            let full = items.len() >= p.limit || scanned >= MAX_SCAN;
            cursor = Some(k);
            if full {
                return Ok(Page { items, next: cursor.map(hex::encode) });
            }
        }
        if exhausted {
            return Ok(Page { items, next: None });
        }
    }
}

fn get<T: BorshDeserialize>(snap: &Snapshot, key: &[u8]) -> Result<Option<T>, QueryError> {
    use stratus_ledger::StateRead;
    match snap.get(key)? {
        Some(v) => decode(key, &v).map(Some),
        None => Ok(None),
    }
}

fn all<T: BorshDeserialize>(snap: &Snapshot, prefix: &[u8]) -> Result<Vec<T>, QueryError> {
    use stratus_ledger::StateRead;
    snap.scan_prefix(prefix)?.iter().map(|(k, v)| decode(k, v)).collect()
}

pub const DEPLOYMENT_STATES: &[&str] = &["active", "closed"];
pub const GROUP_STATES: &[&str] = &["open", "paused", "insufficient_funds", "closed"];
pub const ORDER_STATES: &[&str] = &["open", "active", "closed"];
pub const BID_STATES: &[&str] = &["open", "active", "lost", "closed"];
pub const LEASE_STATES: &[&str] = &["active", "insufficient_funds", "closed"];

pub fn deployments(snap: &Snapshot, p: &ListParams) -> Result<Page<Deployment>, QueryError> {
    page(snap, &p.scoped(keys::DEPLOYMENT), p, |k, v| {
        let d: Deployment = decode(k, v)?;
        Ok((p.state_is(d.state.as_str()) && p.owner_dseq_match(&d.id.owner, d.id.dseq)).then_some(d))
    })
}

pub fn groups(snap: &Snapshot, p: &ListParams) -> Result<Page<Group>, QueryError> {
    page(snap, &p.scoped(keys::GROUP), p, |k, v| {
        let g: Group = decode(k, v)?;
        Ok((p.state_is(g.state.as_str()) && p.owner_dseq_match(&g.id.owner, g.id.dseq)).then_some(g))
    })
}

pub fn orders(snap: &Snapshot, p: &ListParams) -> Result<Page<Order>, QueryError> {
    if p.state.as_deref() == Some("open") && p.owner.is_none() {
        // The open-order index: what providers poll.
        return page(snap, keys::OPEN_ORDER, p, |k, _| {
            let id = keys::parse_order_suffix(&k[keys::OPEN_ORDER.len()..])
                .ok_or_else(|| QueryError::Internal("corrupt open-order index".into()))?;
            Ok(get::<Order>(snap, &keys::order(&id))?.filter(|o| p.owner_dseq_match(&o.id.owner, o.id.dseq)))
        });
    }
    page(snap, &p.scoped(keys::ORDER), p, |k, v| {
        let o: Order = decode(k, v)?;
        Ok((p.state_is(o.state.as_str()) && p.owner_dseq_match(&o.id.owner, o.id.dseq)).then_some(o))
    })
}

/// Bids or leases: by the provider index when a provider is given, else by owner.
fn market_page<T: BorshDeserialize>(
    snap: &Snapshot,
    p: &ListParams,
    record_prefix: &[u8],
    provider_index: &[u8],
    record_key: fn(&BidId) -> Vec<u8>,
    id_state: fn(&T) -> (&BidId, &'static str),
) -> Result<Page<T>, QueryError> {
    let keep = |item: T| {
        let (id, state) = id_state(&item);
        let ok = p.owner_dseq_match(&id.owner, id.dseq)
            && p.provider.as_ref().is_none_or(|pr| pr == &id.provider)
            && p.state_is(state);
        ok.then_some(item)
    };
    if let Some(provider) = &p.provider {
        let mut prefix = provider_index.to_vec();
        prefix.extend_from_slice(&provider.0);
        let skip = prefix.len();
        return page(snap, &prefix, p, |k, _| {
            let id = keys::parse_bid_suffix(&k[skip..])
                .ok_or_else(|| QueryError::Internal("corrupt provider index".into()))?;
            Ok(get::<T>(snap, &record_key(&id))?.and_then(keep))
        });
    }
    page(snap, &p.scoped(record_prefix), p, |k, v| Ok(keep(decode(k, v)?)))
}

pub fn bids(snap: &Snapshot, p: &ListParams) -> Result<Page<Bid>, QueryError> {
    market_page(snap, p, keys::BID, keys::PROVIDER_BID, keys::bid, |b: &Bid| (&b.id, b.state.as_str()))
}

pub fn leases(snap: &Snapshot, p: &ListParams) -> Result<Page<Lease>, QueryError> {
    market_page(snap, p, keys::LEASE, keys::PROVIDER_LEASE, keys::lease, |l: &Lease| (&l.id, l.state.as_str()))
}

pub fn providers(snap: &Snapshot, p: &ListParams) -> Result<Page<Provider>, QueryError> {
    page(snap, keys::PROVIDER, p, |k, v| decode(k, v).map(Some))
}

pub fn provider(snap: &Snapshot, address: &Address) -> Result<Provider, QueryError> {
    get(snap, &keys::provider(address))?
        .ok_or_else(|| QueryError::NotFound(format!("{address} is not a registered provider")))
}

pub fn audits(snap: &Snapshot, p: &ListParams) -> Result<Page<AuditedAttributes>, QueryError> {
    let prefix = match &p.provider {
        Some(pr) => keys::audits_of(pr),
        None => keys::AUDIT.to_vec(),
    };
    page(snap, &prefix, p, |k, v| {
        let a: AuditedAttributes = decode(k, v)?;
        Ok(p.auditor.as_ref().is_none_or(|au| au == &a.auditor).then_some(a))
    })
}

/// Published benchmark records, by provider then GPU model; `gpu` in any spelling.
pub fn benchmarks(
    snap: &Snapshot,
    p: &ListParams,
) -> Result<Page<stratus_types::benchmark::BenchmarkRecord>, QueryError> {
    let prefix = match &p.provider {
        Some(pr) => keys::benchmarks_of(pr),
        None => keys::BENCHMARK.to_vec(),
    };
    page(snap, &prefix, p, |k, v| {
        let r: stratus_types::benchmark::BenchmarkRecord = decode(k, v)?;
        Ok(p.gpu.as_ref().is_none_or(|g| g == &r.figures.gpu_model).then_some(r))
    })
}

pub fn deployment(snap: &Snapshot, id: &DeploymentId) -> Result<DeploymentInfo, QueryError> {
    let deployment: Deployment = get(snap, &keys::deployment(id))?
        .ok_or_else(|| QueryError::NotFound(format!("deployment {id} does not exist")))?;
    let suffix = keys::deployment_suffix(id);
    let with = |prefix: &[u8]| [prefix, suffix.as_slice()].concat();
    Ok(DeploymentInfo {
        deployment,
        groups: all(snap, &keys::groups_of(id))?,
        orders: all(snap, &with(keys::ORDER))?,
        leases: all(snap, &keys::leases_of(id))?,
        escrow: get::<EscrowAccount>(snap, &keys::escrow(id))?,
        payments: all::<Payment>(snap, &keys::payments_of(id))?,
    })
}

pub fn arena_task(snap: &Snapshot, id: u64) -> Result<stratus_types::arena::TaskRecord, QueryError> {
    stratus_ledger::arena::read_task_record(snap, id)?
        .ok_or_else(|| QueryError::NotFound(format!("task {id} does not exist")))
}

pub fn account(snap: &Snapshot, address: &Address) -> Result<AccountInfo, QueryError> {
    use stratus_ledger::StateRead;
    let prefix = keys::balances_of(address);
    let mut balances = Vec::new();
    for (k, v) in snap.scan_prefix(&prefix)? {
        let denom = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
        balances.push(Coin::new(decode::<u128>(&k, &v)?, denom));
    }
    let sequence = account_sequence(snap, address)?;
    Ok(AccountInfo { address: *address, sequence, next_sequence: sequence, balances })
}

pub fn params(snap: &Snapshot) -> Result<stratus_types::params::Params, QueryError> {
    get(snap, keys::PARAMS)?.ok_or_else(|| QueryError::Internal("params missing from state".into()))
}
