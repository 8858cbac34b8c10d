//! Training jobs on the supercloud, the pure part (no I/O, no clock): what `stratus train up`
//! decides, so that it can be tested without a network.
//!
//! - [`cluster`]: the job file's `[cluster]` section (how many workers, GPUs, regions, prices)
//!   and the engine's own job, split apart: the training engine never sees the market.
//! - [`sdl`]: the job as one gang deployment: a coordinator service and one single-worker group
//!   per worker, so that several providers can share the cluster.
//! - [`assign`]: the cheapest feasible choice of bids under the job's constraints, or, per
//!   provider, why there is none.
//! - [`status`]: the `stratus train status --output json` object.
//!
//! The effects (ledger transactions, manifests, logs, healing) live in the CLI
//! (`crates/cli/src/cmd/train_up.rs`).

pub mod assign;
pub mod cluster;
pub mod sdl;
pub mod status;
