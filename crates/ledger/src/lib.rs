//! The marketplace's deterministic state machine.
//!
//! A block goes in; the changes it makes to state, its events and per-transaction results come
//! out, with the app hash that commits to them. Modules (bank, escrow, deployment, market,
//! provider and audit, arena) are methods on one execution context over one key-value state.
//!
//! **Invariants:** no I/O, no clock, no randomness: the block header carries height and time.
//! State is only iterated in key order (`BTreeMap`), never in hash order. Money is integers
//! (`u128` units) and exact fixed-point (`Dec`); every rounding step is explicit (`escrow`).
//! Per-block work does not grow with the number of leases: end-of-block work reads only the
//! entries indexed under the current height.

mod apply;
pub mod arena;
mod bank;
mod deployment;
mod error;
mod escrow;
mod exec;
mod invariants;
pub mod keys;
mod market;
mod provider;
mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use apply::{BlockOutcome, SigCheck, TxCheck, app_hash, apply_block, check_tx, genesis};
pub use error::{ArenaError, LedgerError};
pub use exec::{community_pool, escrow_module};
pub use invariants::check_invariants;
pub use provider::validate_host_uri;
pub use state::{AccessCounts, ChangeSet, Entries, Layered, MemState, State, StateRead};

#[cfg(test)]
mod tests;
